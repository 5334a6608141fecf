import Foundation
import PostgresNIO

extension JSONValue {
    /// Bound as `jsonb` text; Postgres parses it.
    public var jsonb: String {
        String(decoding: JSONSerializer.bytes(self), as: UTF8.self)
    }
}
