import Crypto
import Foundation

/// The deployment master keys (`RUNGATE_MASTER_KEY`), which wrap every org's data key.
///
/// Format: `kid:base64(32 bytes)` entries separated by commas. The first entry is current and wraps
/// new data keys; the others only unwrap keys wrapped before a rotation.
public struct MasterKeyring: Sendable {
    public let currentKeyID: String
    private let keys: [String: [UInt8]]

    public init(currentKeyID: String, keys: [String: [UInt8]]) throws(EnvelopeError) {
        guard keys.values.allSatisfy({ $0.count == 32 }) else { throw .invalidMasterKeySpecification("every key must be 32 bytes") }
        guard keys[currentKeyID] != nil else { throw .unknownMasterKey(currentKeyID) }
        self.currentKeyID = currentKeyID
        self.keys = keys
    }

    /// Parses the `RUNGATE_MASTER_KEY` format. Errors never echo key material.
    public init(parsing specification: String) throws(EnvelopeError) {
        var keys: [String: [UInt8]] = [:]
        var first: String?
        for entry in specification.split(separator: ",") {
            let parts = entry.trimmingCharacters(in: .whitespaces).split(separator: ":", maxSplits: 1)
            guard parts.count == 2, !parts[0].isEmpty,
                  parts[0].allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }),
                  let bytes = Data(base64Encoded: String(parts[1])), bytes.count == 32
            else {
                throw .invalidMasterKeySpecification(
                    "each entry must be `key-id:base64-of-32-bytes` (generate one with `openssl rand -base64 32`)")
            }
            let id = String(parts[0])
            guard keys[id] == nil else { throw .invalidMasterKeySpecification("key id \(id) appears twice") }
            keys[id] = Array(bytes)
            if first == nil { first = id }
        }
        guard let first else { throw .invalidMasterKeySpecification("no key given") }
        try self.init(currentKeyID: first, keys: keys)
    }

    /// A fresh random keyring, for tests and throw-away deployments.
    public static func random(keyID: String = "k1") -> MasterKeyring {
        try! MasterKeyring(currentKeyID: keyID, keys: [keyID: randomKeyBytes()])
    }

    func key(_ id: String) throws(EnvelopeError) -> AEADKey {
        guard let key = keys[id] else { throw .unknownMasterKey(id) }
        return AEADKey(key)
    }

    // MARK: Data keys

    /// Creates a new random data key for `orgID`.
    public func newDataKey(orgID: UUID) -> DataKey {
        DataKey(orgID: orgID, id: UUID(), keyBytes: randomKeyBytes())
    }

    /// Encrypts a data key under the current master key. AAD binds it to its org, its id and the master key id.
    public func wrap(_ dataKey: DataKey) throws(EnvelopeError) -> WrappedDataKey {
        let aad = Self.wrapAAD(orgID: dataKey.orgID, dataKeyID: dataKey.id, masterKeyID: currentKeyID)
        let raw = dataKey.keyBytes
        let sealed = try Envelope.seal(raw, key: key(currentKeyID), aad: aad)
        return WrappedDataKey(orgID: dataKey.orgID, id: dataKey.id, masterKeyID: currentKeyID, ciphertext: sealed)
    }

    /// Decrypts a wrapped data key; fails if it was wrapped for another org, id or master key.
    public func unwrap(_ wrapped: WrappedDataKey) throws(EnvelopeError) -> DataKey {
        let aad = Self.wrapAAD(orgID: wrapped.orgID, dataKeyID: wrapped.id, masterKeyID: wrapped.masterKeyID)
        let raw = try Envelope.open(wrapped.ciphertext, key: key(wrapped.masterKeyID), aad: aad)
        guard raw.count == 32 else { throw .decryptionFailed }  // a data key is 32 bytes; anything else is not one
        return DataKey(orgID: wrapped.orgID, id: wrapped.id, keyBytes: raw)
    }

    private static func wrapAAD(orgID: UUID, dataKeyID: UUID, masterKeyID: String) -> [UInt8] {
        Array("rungate:dek:v1|org=\(orgID.lowercasedString)|dek=\(dataKeyID.lowercasedString)|kid=\(masterKeyID)".utf8)
    }
}

/// 32 bytes from the system's cryptographically secure generator: a key, or a token's body.
func randomKeyBytes() -> [UInt8] {
    // Eight bytes per draw from the system's generator (one `getrandom` each), not one.
    var generator = SystemRandomNumberGenerator()
    var bytes: [UInt8] = []
    bytes.reserveCapacity(32)
    for _ in 0..<4 { withUnsafeBytes(of: generator.next() as UInt64) { bytes.append(contentsOf: $0) } }
    return bytes
}

extension MasterKeyring {
    /// The keyring from `RUNGATE_MASTER_KEY`, or an error that says how to provide one.
    public static func fromEnvironment() throws -> MasterKeyring {
        guard let specification = Env.get("RUNGATE_MASTER_KEY") else {
            throw ConfigurationError(
                "RUNGATE_MASTER_KEY is not set: set it to `key-id:base64-of-32-random-bytes` (e.g. `k1:$(openssl rand -base64 32)`)")
        }
        do { return try MasterKeyring(parsing: specification) } catch { throw ConfigurationError(error.description) }
    }
}
