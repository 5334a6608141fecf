/// What Foundation's JSON decoder lets through that JSON (RFC 8259) does not: a comma before a
/// closing `}` or `]`. Checked in one pass over the bytes, so a body a provider would refuse is
/// refused here, with a clear 400, before anything is counted or forwarded.
public enum StrictJSON {
    public static func hasTrailingComma<Bytes: Collection>(_ bytes: Bytes) -> Bool where Bytes.Element == UInt8 {
        var inString = false, escaped = false, afterComma = false
        for byte in bytes {
            if inString {
                if escaped { escaped = false } else if byte == 0x5C { escaped = true } else if byte == 0x22 { inString = false }
                continue
            }
            switch byte {
            case 0x22: inString = true; afterComma = false
            case 0x2C: afterComma = true
            case 0x20, 0x09, 0x0A, 0x0D: continue
            case 0x7D, 0x5D: if afterComma { return true }
            default: afterComma = false
            }
        }
        return false
    }
}
