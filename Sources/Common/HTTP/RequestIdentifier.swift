import Synchronization

/// Request ids as Hummingbird makes them — a random prefix chosen once per process and a counter
/// from a random start — written out once as 32 lower-case hex digits. Hummingbird's `RequestID`
/// formats itself on every read (`String(radix:)`, padding, concatenation: ~2 K instructions,
/// and a request's id is read for its answer's headers at least).
public enum RequestIdentifier {
    private static let prefix = UInt64.random(in: .min ... .max)
    private static let counter = Atomic<UInt64>(UInt64.random(in: .min ... .max))

    /// A new id, unique within this process and, with its random prefix, across processes.
    public static func next() -> String {
        let halves = (prefix.bigEndian, counter.wrappingAdd(1, ordering: .relaxed).oldValue.bigEndian)
        return withUnsafeBytes(of: halves) { raw in
            String(unsafeUninitializedCapacity: 32) { text in
                Hex.write(raw.bindMemory(to: UInt8.self), into: text, at: 0)
            }
        }
    }
}
