import Crypto

/// A provider key's non-secret identity for listings: `sha256:` and the first 16 hex characters.
public enum ProviderKeyFingerprint {
    public static func of(_ key: String) -> String {
        "sha256:" + SHA256.hash(data: Array(key.utf8)).hexString.prefix(16)
    }
}
