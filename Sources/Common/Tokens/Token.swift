import Crypto
import Foundation

/// A Rungate bearer token: `prefix + base62(32 random bytes) + base62(CRC32(prefix + body))`.
///
/// Parsing checks prefix, length, alphabet and checksum without touching storage, so a malformed
/// or mistyped credential is refused cheaply. Only `hash` is ever stored.
public struct Token: Sendable, Hashable, CustomStringConvertible {
    public static let bodyLength = 43  // ceil(256 / log2(62))
    public static let checksumLength = 6  // 62^6 > 2^32

    public let kind: TokenKind
    /// The full secret value. Shown once to the user, never logged.
    public let value: String

    /// Creates a new random token of `kind`.
    public static func generate(_ kind: TokenKind) -> Token {
        let head = kind.prefix + Base62.encode(randomKeyBytes(), width: bodyLength)
        let checksum = Base62.encode(CRC32.checksum(head.utf8), width: checksumLength)
        return Token(kind: kind, value: head + checksum)
    }

    /// Parses `value` as a token of `expected` kind.
    public static func parse(_ value: String, expecting expected: TokenKind) throws(TokenFormatError) -> Token {
        let token = try parse(value)
        guard token.kind == expected else { throw .wrongKind(found: token.kind, expected: expected) }
        return token
    }

    /// Parses `value` as a token of any kind.
    public static func parse(_ value: String) throws(TokenFormatError) -> Token {
        var value = value
        let kind = value.withUTF8(check)
        return Token(kind: try kind.get(), value: value)
    }

    /// Reads a token's bytes in place: every agent call is checked here, and stepping through
    /// `String.UTF8View` slices cost ~7 K instructions a token where the bytes take ~1 K.
    private static func check(_ bytes: UnsafeBufferPointer<UInt8>) -> Result<TokenKind, TokenFormatError> {
        guard let (kind, prefixLength) = TokenKind.prefixBytes.first(where: { bytes.starts(with: $0.bytes) }).map({ ($0.kind, $0.bytes.count) }) else {
            return .failure(.unknownPrefix)
        }
        guard bytes.count == prefixLength + bodyLength + checksumLength else { return .failure(.wrongLength) }
        guard Base62.isValid(UnsafeBufferPointer(rebasing: bytes[prefixLength...])) else { return .failure(.invalidCharacters) }
        let checksum = CRC32.checksum(UnsafeBufferPointer(rebasing: bytes[..<(prefixLength + bodyLength)]))
        guard Base62.spells(checksum, UnsafeBufferPointer(rebasing: bytes[(prefixLength + bodyLength)...])) else { return .failure(.badChecksum) }
        return .success(kind)
    }

    /// Hex SHA-256 of the full token: the only form that is stored.
    public var hash: String { Token.hash(value) }

    /// Hex SHA-256 of a token value.
    public static func hash(_ value: String) -> String {
        SHA256.hash(data: Array(value.utf8)).hexString
    }

    /// A short, non-secret display form: the prefix and the first four characters of the body.
    public var displayPrefix: String {
        String(value.prefix(kind.prefix.count + 4))
    }

    /// Redacted, so a token interpolated by mistake never reaches a log.
    public var description: String { "\(displayPrefix)…(redacted)" }
}

/// Why a string is not a valid token. Messages never echo the value.
public enum TokenFormatError: Error, Sendable, Equatable, CustomStringConvertible {
    case unknownPrefix
    case wrongKind(found: TokenKind, expected: TokenKind)
    case wrongLength
    case invalidCharacters
    case badChecksum

    public var description: String {
        switch self {
        case .unknownPrefix: "the token does not start with a Rungate prefix"
        case .wrongKind(let found, let expected):
            "a \(found.rawValue) token (\(found.prefix)…) was sent where a \(expected.rawValue) token (\(expected.prefix)…) is required"
        case .wrongLength: "the token has the wrong length (was it truncated when copied?)"
        case .invalidCharacters: "the token contains characters outside base62"
        case .badChecksum: "the token's checksum does not match (was it mistyped?)"
        }
    }
}
