import Foundation
import Logging
import Synchronization

/// One JSON object per line on standard error: `ts`, `level`, `logger`, `msg`, then metadata.
///
/// Structured so log pipelines can parse it; call sites are responsible for never passing a
/// secret (tokens and keys have redacting descriptions, and URLs print without passwords).
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String

    public init(label: String, level: Logger.Level, metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.logLevel = level
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields: [String: JSONValue] = [
            "ts": .string(Self.timestamp()),
            "level": .string(event.level.rawValue),
            "logger": .string(label),
            "msg": .string(event.message.description),
        ]
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        for (key, value) in merged where fields[key] == nil { fields[key] = Self.json(value) }
        var line = JSONSerializer.bytes(.object(fields))
        line.append(0x0A)
        Self.output.withLock { _ in FileHandle.standardError.write(Data(line)) }
    }

    private static let output = Mutex(())

    private static func json(_ value: Logger.Metadata.Value) -> JSONValue {
        switch value {
        case .string(let string): .string(string)
        case .stringConvertible(let convertible): .string(convertible.description)
        case .array(let array): .array(array.map(json))
        case .dictionary(let dictionary): .object(dictionary.mapValues(json))
        }
    }

    private static func timestamp() -> String {
        Date().formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
    }
}

/// Process-wide logging set-up. Call once, from `main` only.
public enum RungateLogging {
    public enum Format: String, Sendable, CaseIterable { case json, text }

    public static func bootstrap(level: Logger.Level, format: Format) {
        LoggingSystem.bootstrap { label in
            switch format {
            case .json: return JSONLogHandler(label: label, level: level)
            case .text:
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
        }
    }
}
