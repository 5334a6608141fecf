import Crypto
import Foundation

/// What a ciphertext protects. Part of the AAD, so a ciphertext cannot be moved between uses.
public enum EncryptionPurpose: String, Sendable {
    case providerKey = "provider_key"
    case webhookSecret = "webhook_secret"
    case payload
    case artifact
    case approvalLink = "approval_link"
}

/// An org's data key in memory. Lives only as long as the operation that needs it.
public struct DataKey: Sendable {
    public let orgID: UUID
    public let id: UUID
    /// The key as swift-crypto takes it (for HKDF), ready to seal, and each purpose's AAD, built
    /// once: a key is cached and seals every recorded payload and opens a provider key on every call.
    private let prepared: Prepared
    var key: SymmetricKey { prepared.key }
    /// The raw key, for wrapping it under a master key: read from `key` rather than kept a second
    /// time beside it.
    var keyBytes: [UInt8] { key.withUnsafeBytes { Array($0) } }

    /// `SymmetricKey` is not `Sendable` in this swift-crypto; it is immutable once made (its bytes
    /// are never written after `init`), so sharing it between threads is safe.
    private final class Prepared: @unchecked Sendable {
        let key: SymmetricKey
        let sealing: AEADKey
        /// Indexed by `EncryptionPurpose.index`.
        let aads: [[UInt8]]

        init(keyBytes: [UInt8], aadPrefix: String) {
            key = SymmetricKey(data: keyBytes)
            sealing = AEADKey(keyBytes)
            var aads = [[UInt8]](repeating: [], count: EncryptionPurpose.allCases.count)
            for purpose in EncryptionPurpose.allCases { aads[purpose.index] = Array((aadPrefix + purpose.rawValue).utf8) }
            self.aads = aads
        }
    }

    init(orgID: UUID, id: UUID, keyBytes: [UInt8]) {
        self.orgID = orgID
        self.id = id
        self.prepared = Prepared(keyBytes: keyBytes, aadPrefix: "rungate:data:v1|org=\(orgID.lowercasedString)|dek=\(id.lowercasedString)|purpose=")
    }

    /// Encrypts `plaintext` for this org and purpose.
    public func seal(_ plaintext: some ContiguousBytes, purpose: EncryptionPurpose) throws(EnvelopeError) -> [UInt8] {
        try Envelope.seal(plaintext, key: prepared.sealing, aad: aad(purpose))
    }

    /// Decrypts what `seal` produced; fails on any tampering or on another org's, key's or purpose's ciphertext.
    public func open(_ ciphertext: [UInt8], purpose: EncryptionPurpose) throws(EnvelopeError) -> [UInt8] {
        try Envelope.open(ciphertext, key: prepared.sealing, aad: aad(purpose))
    }

    /// An HMAC-SHA256 of `message` under a key derived from this one for `purpose` (HKDF), so
    /// the org's tokens (signed approval links) die with its data key.
    public func authenticationCode(for message: [UInt8], purpose: EncryptionPurpose) -> [UInt8] {
        let derived = HKDF<SHA256>.deriveKey(inputKeyMaterial: key, info: aad(purpose), outputByteCount: 32)
        return Array(HMAC<SHA256>.authenticationCode(for: message, using: derived))
    }

    private func aad(_ purpose: EncryptionPurpose) -> [UInt8] {
        prepared.aads[purpose.index]
    }
}

extension EncryptionPurpose: CaseIterable {
    /// Where the purpose's AAD is kept (a switch: no hashing of the raw value on every seal).
    var index: Int {
        switch self {
        case .providerKey: 0
        case .webhookSecret: 1
        case .payload: 2
        case .artifact: 3
        case .approvalLink: 4
        }
    }
}

/// A data key encrypted under a master key: the only form in which it is stored.
public struct WrappedDataKey: Sendable, Equatable {
    public var orgID: UUID
    public var id: UUID
    public var masterKeyID: String
    public var ciphertext: [UInt8]

    public init(orgID: UUID, id: UUID, masterKeyID: String, ciphertext: [UInt8]) {
        self.orgID = orgID
        self.id = id
        self.masterKeyID = masterKeyID
        self.ciphertext = ciphertext
    }
}

/// AES-256-GCM with a version byte in front: `0x01 || nonce(12) || ciphertext || tag(16)`.
enum Envelope {
    static let version: UInt8 = 1
    /// GCM's 96-bit nonce, random for each seal.
    typealias Nonce = (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8)
    private static let overhead = 1 + AEADKey.nonceCount + AEADKey.tagCount

    static func seal(_ plaintext: some ContiguousBytes, key: AEADKey, aad: [UInt8]) throws(EnvelopeError) -> [UInt8] {
        let nonce = RandomBlock.shared.next(as: Nonce.self)
        var sealed = false
        let envelope = plaintext.withUnsafeBytes { plaintext in
            // Written once into its final place: the version byte, the nonce, then ciphertext and tag.
            [UInt8](unsafeUninitializedCapacity: overhead + plaintext.count) { output, count in
                let output = UnsafeMutableRawBufferPointer(output)
                output[0] = version
                withUnsafeBytes(of: nonce) { nonce in
                    output.baseAddress!.advanced(by: 1).copyMemory(from: nonce.baseAddress!, byteCount: AEADKey.nonceCount)
                    sealed = key.seal(plaintext, nonce: nonce, aad: aad,
                                      into: UnsafeMutableRawBufferPointer(rebasing: output[(1 + AEADKey.nonceCount)...]))
                }
                count = sealed ? output.count : 0
            }
        }
        guard sealed else { throw .encryptionFailed }
        return envelope
    }

    static func open(_ sealed: [UInt8], key: AEADKey, aad: [UInt8]) throws(EnvelopeError) -> [UInt8] {
        guard sealed.first == version, sealed.count >= overhead else { throw .malformedCiphertext }
        let opened = sealed.withUnsafeBytes { sealed in
            key.open(UnsafeRawBufferPointer(rebasing: sealed[(1 + AEADKey.nonceCount)...]),
                     nonce: UnsafeRawBufferPointer(rebasing: sealed[1..<(1 + AEADKey.nonceCount)]), aad: aad)
        }
        guard let opened else { throw .decryptionFailed }
        return opened
    }
}

public enum EnvelopeError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidMasterKeySpecification(String)
    case unknownMasterKey(String)
    case malformedCiphertext
    case encryptionFailed
    case decryptionFailed

    public var description: String {
        switch self {
        case .invalidMasterKeySpecification(let why): "RUNGATE_MASTER_KEY is invalid: \(why)"
        case .unknownMasterKey(let id): "no master key with id \(id) is configured"
        case .malformedCiphertext: "the ciphertext is malformed"
        case .encryptionFailed: "encryption failed"
        case .decryptionFailed: "decryption failed (wrong key, wrong org or tampered data)"
        }
    }
}
