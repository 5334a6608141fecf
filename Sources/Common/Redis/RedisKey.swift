import Foundation

/// Redis keys written in one allocation at their exact length. Made with interpolation, `joined`
/// and `+`, each key allocated a string for every id, join and concatenation in it: a governed
/// call's seven keys cost ~17 K of its ~460 K instructions (bench/RESULTS.md, session 36).
public enum RedisKey {
    /// One part of a key: text, an id in its canonical lower-case form, or a decimal integer.
    public enum Part: ExpressibleByStringLiteral, Sendable {
        case text(String)
        case id(UUID)
        case number(Int)

        public init(stringLiteral text: String) {
            self = .text(text)
        }

        var length: Int {
            switch self {
            case .text(let text): text.utf8.count
            case .id: 36
            case .number(let number): DecimalText.length(of: Int64(number))
            }
        }

        func write(into buffer: UnsafeMutableBufferPointer<UInt8>, at start: Int) -> Int {
            switch self {
            case .text(let text):
                var text = text
                return text.withUTF8 { bytes in
                    _ = UnsafeMutableBufferPointer(rebasing: buffer[start..<start + bytes.count]).initialize(fromContentsOf: bytes)
                    return start + bytes.count
                }
            case .id(let id):
                return id.writeLowercased(into: buffer, at: start)
            case .number(let number):
                let end = start + DecimalText.length(of: Int64(number))
                DecimalText.write(Int64(number), into: UnsafeMutableRawBufferPointer(UnsafeMutableBufferPointer(rebasing: buffer[start..<end])))
                return end
            }
        }
    }

    /// `rungate:{<org>}` and each part after a colon: every key of an org carries its id as Redis
    /// Cluster's hash tag, so one script's keys live on one slot.
    public static func org(_ org: UUID, _ parts: [Part]) -> String {
        let prefix = "rungate:{"
        var length = prefix.utf8.count + 36 + 1
        for part in parts { length += 1 + part.length }
        return String(unsafeUninitializedCapacity: length) { buffer in
            var at = Part.text(prefix).write(into: buffer, at: 0)
            at = org.writeLowercased(into: buffer, at: at)
            buffer[at] = UInt8(ascii: "}")
            at += 1
            for part in parts {
                buffer[at] = UInt8(ascii: ":")
                at = part.write(into: buffer, at: at + 1)
            }
            return at
        }
    }

    /// The parts one after another, nothing between them.
    public static func concatenating(_ parts: Part...) -> String {
        var length = 0
        for part in parts { length += part.length }
        return String(unsafeUninitializedCapacity: length) { buffer in
            var at = 0
            for part in parts { at = part.write(into: buffer, at: at) }
            return at
        }
    }
}
