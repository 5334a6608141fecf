import Crypto
import Foundation
import Testing

@testable import Common

@Suite struct EnvelopeEncryptionTests {
    let keyring = MasterKeyring.random()
    let orgID = UUID()

    @Test func roundTripThroughWrapAndSeal() throws {
        let key = keyring.newDataKey(orgID: orgID)
        let wrapped = try keyring.wrap(key)
        let unwrapped = try keyring.unwrap(wrapped)
        let sealed = try key.seal(Array("sk-provider-secret".utf8), purpose: .providerKey)
        #expect(!sealed.isEmpty)
        #expect(String(decoding: try unwrapped.open(sealed, purpose: .providerKey), as: UTF8.self) == "sk-provider-secret")
    }

    @Test func everySealHasItsOwnRandomNonce() async throws {
        let key = keyring.newDataKey(orgID: orgID)
        // 4 tasks × 1,000 seals of the same plaintext: nonces taken concurrently from the shared block.
        let sealed = try await withThrowingTaskGroup(of: [[UInt8]].self) { group in
            for _ in 0..<4 { group.addTask { try (0..<1000).map { _ in try key.seal(Array("same".utf8), purpose: .payload) } } }
            return try await group.reduce(into: [[UInt8]]()) { $0 += $1 }
        }
        let nonces = sealed.map { Array($0[1..<13]) }
        #expect(Set(nonces).count == 4000, "a nonce reused under one key breaks GCM")
        for position in [0, 5, 11] {
            #expect(Set(nonces.prefix(1000).map { $0[position] }).count > 200, "random bytes, not a counter or zeros")
        }
        #expect(try sealed.allSatisfy { try key.open($0, purpose: .payload) == Array("same".utf8) })
    }

    @Test func tamperedCiphertextFails() throws {
        let key = keyring.newDataKey(orgID: orgID)
        var sealed = try key.seal(Array("secret".utf8), purpose: .payload)
        sealed[sealed.count / 2] ^= 0x01
        #expect(throws: EnvelopeError.decryptionFailed) { try key.open(sealed, purpose: .payload) }
        #expect(throws: EnvelopeError.malformedCiphertext) { try key.open([1, 2, 3], purpose: .payload) }
    }

    @Test func anotherOrgsKeyOrPurposeCannotOpenIt() throws {
        let key = keyring.newDataKey(orgID: orgID)
        let sealed = try key.seal(Array("secret".utf8), purpose: .providerKey)
        #expect(throws: EnvelopeError.decryptionFailed) { try key.open(sealed, purpose: .webhookSecret) }
        // The same key bytes presented as another org's key: the AAD no longer matches.
        var wrapped = try keyring.wrap(key)
        wrapped.orgID = UUID()
        #expect(throws: EnvelopeError.decryptionFailed) { try keyring.unwrap(wrapped) }
    }

    @Test func wrongKeyIDsFail() throws {
        let old = MasterKeyring.random(keyID: "k1")
        let key = old.newDataKey(orgID: orgID)
        var wrapped = try old.wrap(key)
        // Claiming another data-key id breaks the AAD.
        var otherID = wrapped
        otherID.id = UUID()
        #expect(throws: EnvelopeError.decryptionFailed) { try old.unwrap(otherID) }
        // Claiming another master key id: unknown here, and a wrong key where it exists.
        wrapped.masterKeyID = "k2"
        #expect(throws: EnvelopeError.unknownMasterKey("k2")) { try old.unwrap(wrapped) }
        let both = try MasterKeyring(parsing: "k2:\(Data(repeating: 7, count: 32).base64EncodedString()),k1:\(Data(repeating: 9, count: 32).base64EncodedString())")
        #expect(throws: EnvelopeError.decryptionFailed) { try both.unwrap(wrapped) }
    }

    @Test func rotationKeepsOldKeysReadable() throws {
        let k1 = Data(repeating: 1, count: 32).base64EncodedString(), k2 = Data(repeating: 2, count: 32).base64EncodedString()
        let before = try MasterKeyring(parsing: "k1:\(k1)")
        let after = try MasterKeyring(parsing: "k2:\(k2),k1:\(k1)")
        let key = before.newDataKey(orgID: orgID)
        let wrapped = try before.wrap(key)
        #expect(try after.unwrap(wrapped).id == key.id)
        #expect(try after.wrap(key).masterKeyID == "k2")
    }

    @Test func masterKeySpecificationErrorsNeverEchoTheKey() {
        let short = Data(repeating: 3, count: 16).base64EncodedString()
        do {
            _ = try MasterKeyring(parsing: "k1:\(short)")
            Issue.record("a 16-byte key was accepted")
        } catch {
            #expect(!error.description.contains(short))
        }
        #expect(throws: EnvelopeError.self) { try MasterKeyring(parsing: "") }
        #expect(throws: EnvelopeError.self) { try MasterKeyring(parsing: "no-colon") }
    }

    /// The AAD is a documented string: ciphertexts stored by any earlier build (payloads, provider
    /// keys) must keep opening whatever builds it.
    @Test func theAADIsTheDocumentedStringSoStoredCiphertextsStillOpen() throws {
        let id = UUID(), bytes = (0..<32).map { UInt8($0) }
        let key = DataKey(orgID: orgID, id: id, keyBytes: bytes)
        for purpose in EncryptionPurpose.allCases {
            let aad = Array("rungate:data:v1|org=\(orgID.uuidString.lowercased())|dek=\(id.uuidString.lowercased())|purpose=\(purpose.rawValue)".utf8)
            let box = try AES.GCM.seal(Array("stored earlier".utf8), using: SymmetricKey(data: bytes), authenticating: aad)
            #expect(try key.open([1] + Array(box.combined!), purpose: purpose) == Array("stored earlier".utf8))
            // And the other way: what this build seals is the version byte and GCM's combined box.
            let sealed = try key.seal(Array("stored now".utf8), purpose: purpose)
            #expect(sealed.first == 1 && sealed.count == 1 + 12 + 10 + 16)
            let opened = try AES.GCM.open(AES.GCM.SealedBox(combined: sealed.dropFirst()), using: SymmetricKey(data: bytes), authenticating: aad)
            #expect(Array(opened) == Array("stored now".utf8))
        }
    }

    /// Empty and large plaintexts seal to exactly the version byte, nonce, ciphertext and tag, and
    /// open with swift-crypto's AES-GCM as well as with this build's.
    @Test func plaintextsOfAnySizeSealToGCMsCombinedBox() throws {
        let id = UUID(), bytes = (0..<32).map { UInt8(255 - $0) }
        let key = DataKey(orgID: orgID, id: id, keyBytes: bytes)
        let aad = Array("rungate:data:v1|org=\(orgID.uuidString.lowercased())|dek=\(id.uuidString.lowercased())|purpose=payload".utf8)
        for size in [0, 1, 15, 16, 17, 4096, 1 << 20] {
            let plaintext = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            let sealed = try key.seal(plaintext, purpose: .payload)
            #expect(sealed.count == 1 + 12 + size + 16)
            #expect(try key.open(sealed, purpose: .payload) == plaintext)
            let opened = try AES.GCM.open(AES.GCM.SealedBox(combined: sealed.dropFirst()), using: SymmetricKey(data: bytes), authenticating: aad)
            #expect(Array(opened) == plaintext)
        }
    }

    /// A data key wrapped by an earlier build (swift-crypto's AES-GCM under the master key, the
    /// documented AAD) still unwraps, and what this build wraps opens with swift-crypto.
    @Test func wrappedDataKeysAreGCMUnderTheMasterKeyBothWays() throws {
        let masterBytes = (0..<32).map { UInt8($0 &* 7) }
        let keyring = try MasterKeyring(currentKeyID: "k1", keys: ["k1": masterBytes])
        let master = SymmetricKey(data: masterBytes)
        let dataKeyID = UUID(), dataKeyBytes = (0..<32).map { UInt8($0 &+ 100) }
        let aad = Array("rungate:dek:v1|org=\(orgID.uuidString.lowercased())|dek=\(dataKeyID.uuidString.lowercased())|kid=k1".utf8)
        let earlier = try AES.GCM.seal(dataKeyBytes, using: master, authenticating: aad)
        let unwrapped = try keyring.unwrap(WrappedDataKey(orgID: orgID, id: dataKeyID, masterKeyID: "k1", ciphertext: [1] + Array(earlier.combined!)))
        #expect(unwrapped.keyBytes == dataKeyBytes)

        let wrapped = try keyring.wrap(unwrapped)
        let opened = try AES.GCM.open(AES.GCM.SealedBox(combined: wrapped.ciphertext.dropFirst()), using: master, authenticating: aad)
        #expect(Array(opened) == dataKeyBytes)
        // A wrapped value that opens but is not a 32-byte key is refused, not used.
        let short = try AES.GCM.seal(Array(dataKeyBytes.prefix(16)), using: master, authenticating: aad)
        #expect(throws: EnvelopeError.decryptionFailed) {
            try keyring.unwrap(WrappedDataKey(orgID: orgID, id: dataKeyID, masterKeyID: "k1", ciphertext: [1] + Array(short.combined!)))
        }
    }
}
