import Crypto
import Foundation

/// `X-Rungate-Signature`: `v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>`, one entry per
/// live secret (during a rotation's grace window the new one first, then the old one), joined by
/// commas. The key is the secret exactly as shown (`whsec_…`, its UTF-8 bytes). Receivers check any
/// entry against their secret and refuse timestamps more than five minutes away from their clock.
public enum WebhookSignature {
    /// How far a delivery's timestamp may be from the receiver's clock.
    public static let tolerance: TimeInterval = 300

    public static func sign(secret: String, timestamp: Int, body: some DataProtocol) -> String {
        var mac = HMAC<SHA256>(key: SymmetricKey(data: Data(secret.utf8)))
        mac.update(data: Data("\(timestamp).".utf8))
        mac.update(data: Data(body))
        return Data(mac.finalize()).hexString
    }

    /// The header value for a delivery signed with every secret in `secrets`.
    public static func header(secrets: [String], timestamp: Int, body: some DataProtocol) -> String {
        secrets.map { "v1=" + sign(secret: $0, timestamp: timestamp, body: body) }.joined(separator: ",")
    }

    /// Whether `header` holds a valid signature by `secret` of `body` at `timestamp`, and the
    /// timestamp is within the tolerance of `now`. Compares in constant time.
    public static func verify(header: String, secret: String, timestamp: Int, body: some DataProtocol, now: Date = Date()) -> Bool {
        guard abs(now.timeIntervalSince1970 - TimeInterval(timestamp)) <= tolerance else { return false }
        let expected = Array(sign(secret: secret, timestamp: timestamp, body: body).utf8)
        var matched = false
        for entry in header.split(separator: ",") {
            let parts = entry.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            guard parts.count == 2, parts[0] == "v1" else { continue }
            matched = ConstantTime.equals(Array(parts[1].utf8), expected) || matched
        }
        return matched
    }
}
