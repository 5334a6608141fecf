import Crypto
import Foundation

/// One numbered SQL file of `migrations/`, e.g. `0003_partitions.sql`.
public struct Migration: Sendable, Equatable {
    public let version: Int
    public let name: String
    public let sql: String

    /// SHA-256 of the file's text: an applied migration that was edited afterwards is detected.
    public var checksum: String { SHA256.hash(data: Array(sql.utf8)).hexString }
    public var statements: [String] { SQLStatementSplitter.split(sql) }

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }

    /// Reads every `NNNN_name.sql` file of `directory`, in version order.
    public static func load(from directory: URL) throws -> [Migration] {
        let files: [String]
        do {
            files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        } catch {
            throw ConfigurationError("cannot read migrations directory \(directory.path): set --migrations-dir or run from the repository root")
        }
        var migrations: [Migration] = []
        for file in files where file.hasSuffix(".sql") {
            let stem = file.dropLast(4)
            guard let underscore = stem.firstIndex(of: "_"), let version = Int(stem[..<underscore]) else {
                throw ConfigurationError("migration file \(file) must be named NNNN_description.sql")
            }
            let sql = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
            migrations.append(Migration(version: version, name: String(stem[stem.index(after: underscore)...]), sql: sql))
        }
        migrations.sort { $0.version < $1.version }
        for (left, right) in zip(migrations, migrations.dropFirst()) where left.version == right.version {
            throw ConfigurationError("two migrations share version \(left.version)")
        }
        return migrations
    }
}
