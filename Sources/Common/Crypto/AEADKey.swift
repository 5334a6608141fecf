import CCryptoBoringSSL

/// An AES-256-GCM key with its key schedule computed once, sealing and opening through BoringSSL's
/// AEAD interface directly.
///
/// Every recorded payload is sealed and a provider key opened on each call: swift-crypto's
/// `AES.GCM` sets up a BoringSSL context per seal and builds `Data` for the nonce, the ciphertext,
/// the tag and the combined box, ~16.7 K instructions to seal a 100-byte payload of which the
/// cipher is ~1.7 K (bench/RESULTS.md, session 35). This is the same BoringSSL, the one swift-crypto
/// builds and links: `CCryptoBoringSSL` is swift-crypto's C module (not one of its products; SwiftPM
/// lets a package's dependents import its C modules). An upgrade of swift-crypto that renamed it
/// fails the build here; the stored format is plain AES-256-GCM, and the tests open with swift-crypto
/// what this seals and the other way round.
final class AEADKey: @unchecked Sendable {
    // `@unchecked`: the context is written only by `init` and `deinit`; BoringSSL documents seal and
    // open on one context as safe to call concurrently.
    private let context: UnsafeMutablePointer<EVP_AEAD_CTX>

    static let nonceCount = 12
    static let tagCount = 16

    /// `bytes`: a 32-byte key (callers check the length of a key they did not make).
    init(_ bytes: [UInt8]) {
        precondition(bytes.count == 32, "AES-256 takes a 32-byte key")
        context = .allocate(capacity: 1)
        CCryptoBoringSSL_EVP_AEAD_CTX_zero(context)
        let initialised = bytes.withUnsafeBufferPointer { key in
            CCryptoBoringSSL_EVP_AEAD_CTX_init(context, CCryptoBoringSSL_EVP_aead_aes_256_gcm(), key.baseAddress, key.count,
                                               Self.tagCount, nil)
        }
        // It fails only for a key or tag of another length.
        precondition(initialised == 1, "BoringSSL did not set up AES-256-GCM")
    }

    deinit {
        CCryptoBoringSSL_EVP_AEAD_CTX_cleanup(context)
        // The key schedule is the key: it does not outlive its owner in freed memory.
        CCryptoBoringSSL_OPENSSL_cleanse(context, MemoryLayout<EVP_AEAD_CTX>.size)
        context.deallocate()
    }

    /// Writes `plaintext`'s ciphertext and tag into `output`, which holds exactly
    /// `plaintext.count + tagCount` bytes; false if BoringSSL refused (it does not for these sizes).
    func seal(_ plaintext: UnsafeRawBufferPointer, nonce: UnsafeRawBufferPointer, aad: [UInt8],
              into output: UnsafeMutableRawBufferPointer) -> Bool {
        assert(nonce.count == Self.nonceCount && output.count == plaintext.count + Self.tagCount)
        var written = 0
        let sealed = aad.withUnsafeBufferPointer { aad in
            CCryptoBoringSSL_EVP_AEAD_CTX_seal(context, output.baseAddress?.assumingMemoryBound(to: UInt8.self), &written, output.count,
                                               nonce.baseAddress?.assumingMemoryBound(to: UInt8.self), nonce.count,
                                               plaintext.baseAddress?.assumingMemoryBound(to: UInt8.self), plaintext.count,
                                               aad.baseAddress, aad.count)
        }
        guard sealed == 1, written == output.count else {
            CCryptoBoringSSL_ERR_clear_error()
            return false
        }
        return true
    }

    /// The plaintext of `sealed` (ciphertext then tag), or nil when the tag does not verify: another
    /// key, another AAD, or altered bytes.
    func open(_ sealed: UnsafeRawBufferPointer, nonce: UnsafeRawBufferPointer, aad: [UInt8]) -> [UInt8]? {
        assert(nonce.count == Self.nonceCount && sealed.count >= Self.tagCount)
        let capacity = sealed.count - Self.tagCount
        var opened = false
        let plaintext = [UInt8](unsafeUninitializedCapacity: capacity) { output, count in
            var written = 0
            opened = aad.withUnsafeBufferPointer { aad in
                CCryptoBoringSSL_EVP_AEAD_CTX_open(context, output.baseAddress, &written, capacity,
                                                   nonce.baseAddress?.assumingMemoryBound(to: UInt8.self), nonce.count,
                                                   sealed.baseAddress?.assumingMemoryBound(to: UInt8.self), sealed.count,
                                                   aad.baseAddress, aad.count) == 1
            }
            count = opened ? written : 0
        }
        guard opened else {
            CCryptoBoringSSL_ERR_clear_error()
            return nil
        }
        return plaintext
    }
}
