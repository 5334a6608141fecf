import Common
import Crypto
@testable import DataPlane
import Testing

/// The fingerprint a loop counter's key carries: the same request asked again — members in another
/// order, other whitespace, another stream flag or user tag — hashes the same; anything else asked
/// hashes differently. Its value is the digest of the request without those members, as written
/// before it was computed without a copy of the request (so a loop window open across an upgrade
/// keeps counting).
@Suite struct LoopFingerprintTests {
    static func parsed(_ text: String) throws -> JSONValue { try JSONParser.parse(Array(text.utf8)) }

    /// The fingerprint as it was defined: the object without the varying members, serialized,
    /// SHA-256, the first 32 hex digits.
    static func definition(_ json: JSONValue) -> String {
        guard case .object(var object) = json else { return "" }
        for key in ["stream", "stream_options", "user", "metadata", "n"] { object[key] = nil }
        return String(SHA256.hash(data: JSONSerializer.bytes(.object(object))).hexString.prefix(32))
    }

    @Test func theSameRequestAskedAgainHashesTheSameAndAsDefined() throws {
        let first = try Self.parsed(#"{"model":"gpt-4o","messages":[{"role":"user","content":"list files \"a\"\n"}],"stream":true,"user":"u1"}"#)
        let again = try Self.parsed(#"{ "user": "u2", "messages": [ {"content": "list files \"a\"\n", "role": "user"} ], "model": "gpt-4o", "n": 1, "stream_options": {"include_usage": true}, "metadata": {"k": "v"} }"#)
        let other = try Self.parsed(#"{"model":"gpt-4o","messages":[{"role":"user","content":"list files \"b\"\n"}]}"#)
        let fingerprint = GovernanceGate.normalisedFingerprint(first)
        #expect(fingerprint.utf8.count == 32 && fingerprint.allSatisfy { "0123456789abcdef".contains($0) })
        #expect(fingerprint == Self.definition(first))
        #expect(GovernanceGate.normalisedFingerprint(again) == fingerprint)
        #expect(GovernanceGate.normalisedFingerprint(other) != fingerprint)
        #expect(GovernanceGate.normalisedFingerprint(other) == Self.definition(other))
        // A varying name below the top level is part of the question.
        let nested = try Self.parsed(#"{"model":"gpt-4o","messages":[],"tools":[{"user":"x"}]}"#)
        let nestedOther = try Self.parsed(#"{"model":"gpt-4o","messages":[],"tools":[{"user":"y"}]}"#)
        #expect(GovernanceGate.normalisedFingerprint(nested) != GovernanceGate.normalisedFingerprint(nestedOther))
        #expect(GovernanceGate.normalisedFingerprint(.array([])) == "")
    }

    @Test func aDigestsFirstBytesInHexAreItsHexStringsStart() {
        let digest = SHA256.hash(data: Array("rungate".utf8))
        #expect(digest.hexString(firstBytes: 16) == String(digest.hexString.prefix(32)))
        #expect(digest.hexString(firstBytes: 32) == digest.hexString && digest.hexString(firstBytes: 99) == digest.hexString)
        #expect(digest.hexString(firstBytes: 0) == "")
    }
}
