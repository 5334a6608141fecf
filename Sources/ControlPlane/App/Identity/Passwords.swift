import Common
import HummingbirdBcrypt
import NIOPosix

/// Password rules and hashing. bcrypt runs on the thread pool, never on an event loop.
public struct Passwords: Sendable {
    public static let minimumLength = 12
    /// bcrypt reads at most 72 bytes; longer passwords are refused rather than silently truncated.
    public static let maximumBytes = 72

    public let cost: UInt8
    /// A hash of a random password, verified against when the e-mail is unknown, so that a login's
    /// timing does not reveal whether an account exists.
    private let decoyHash: String

    public init(cost: UInt8 = 12) {
        self.cost = cost
        self.decoyHash = Bcrypt.hash(Token.generate(.session).value.prefix(40).description, cost: cost)
    }

    public static func validate(_ password: String) throws {
        guard password.count >= minimumLength else {
            throw RungateError(.unprocessableContent, code: "password_too_short",
                               message: "The password must be at least \(minimumLength) characters.",
                               recovery: "Choose a longer password; a passphrase of several words works well.")
        }
        guard password.utf8.count <= maximumBytes else {
            throw RungateError(.unprocessableContent, code: "password_too_long",
                               message: "The password must be at most \(maximumBytes) bytes (bcrypt ignores the rest).",
                               recovery: "Choose a shorter password.")
        }
    }

    public func hash(_ password: String) async throws -> String {
        let cost = self.cost
        return try await NIOThreadPool.singleton.runIfActive { Bcrypt.hash(password, cost: cost) }
    }

    /// Whether `password` matches `hash`; with no hash (unknown user) it spends the same time and says no.
    public func verify(_ password: String, hash: String?) async throws -> Bool {
        let target = hash ?? decoyHash
        let matches = try await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(password, hash: target) }
        return hash != nil && matches
    }
}
