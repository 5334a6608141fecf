import Foundation
import PostgresNIO

extension JSONValue {
    /// Bound as `jsonb` text; Postgres parses it.
    public var jsonb: String {
        (try? JSONEncoder.sortedKeys.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
    }
}
