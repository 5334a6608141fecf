/// Integers written as decimal ASCII straight into a buffer, without a `String` on the way: Redis
/// commands' lengths and integer arguments (`RedisCommand`) and the numbers in keys (`RedisKey`).
enum DecimalText {
    /// How many bytes `value` takes in decimal ASCII (with its sign).
    static func length(of value: Int64) -> Int {
        var magnitude = value.magnitude, length = value < 0 ? 2 : 1
        while magnitude >= 10 {
            magnitude /= 10
            length += 1
        }
        return length
    }

    /// Writes `value` in decimal ASCII, filling `destination` (exactly `length(of: value)` bytes).
    static func write(_ value: Int64, into destination: UnsafeMutableRawBufferPointer) {
        var magnitude = value.magnitude
        var index = destination.count
        repeat {
            index -= 1
            destination[index] = UInt8(ascii: "0") + UInt8(magnitude % 10)
            magnitude /= 10
        } while magnitude > 0
        if value < 0 { destination[0] = UInt8(ascii: "-") }
    }
}
