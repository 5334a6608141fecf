import Common
import ControlPlane
import Foundation
import HTTPTypes
import HummingbirdTesting
import PostgresNIO
import TestSupport
import Testing

/// Sign-up, sign-in (throttled), sessions as cookie and bearer, CSRF, sign-out.
@Suite struct IdentityFlowTests {
    static let password = "correct horse battery"

    @Test func signUpSignInAndSignOut() async throws {
        try await TestDatabase.with { database in
            try await TestApps.controlPlane(database).test(.router) { client in
                let signup = try await client.call(.post, "/api/auth/signup", body: ["email": " Ada@Example.com ", "password": .string(Self.password)])
                #expect(signup.status == .created)
                #expect(signup.json["user"]?["email"] == "ada@example.com")
                let token = try #require(signup.json["token"]?.stringValue)
                #expect(token.hasPrefix("rg_ses_"))
                let cookie = try #require(signup.headers[.setCookie])
                for flag in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/;", "rungate_session=\(token)"] {
                    #expect(cookie.contains(flag), "cookie lacks \(flag)")
                }

                // Stored: a bcrypt hash and the session's SHA-256, never the secrets.
                try await withPostgresClient(url: database.ownerURL) { owner in
                    let hash = try await owner.query("SELECT password_hash FROM users WHERE email = 'ada@example.com'", logger: TestServers.logger)
                        .first(decoding: String.self)
                    #expect(hash?.hasPrefix("$2") == true)
                    let sessions = try await owner.query("SELECT token_hash FROM sessions", logger: TestServers.logger).all(decoding: String.self)
                    #expect(sessions == [Token.hash(token)])
                }

                // Both credential forms work.
                #expect(try await client.call(.get, "/api/me", bearer: token).json["user"]?["email"] == "ada@example.com")
                let viaCookie = try await client.call(.get, "/api/me", headers: [.cookie: "theme=dark; rungate_session=\(token)"])
                #expect(viaCookie.status == .ok && viaCookie.json["credential"] == "session")

                // Duplicate e-mail, short password, bad e-mail.
                let again = try await client.call(.post, "/api/auth/signup", body: ["email": "ada@example.com", "password": .string(Self.password)])
                #expect(again.status == .conflict && again.errorCode == "email_taken")
                let short = try await client.call(.post, "/api/auth/signup", body: ["email": "bob@example.com", "password": "short"])
                #expect(short.status == .unprocessableContent && short.errorCode == "password_too_short")
                let badEmail = try await client.call(.post, "/api/auth/signup", body: ["email": "not-an-email", "password": .string(Self.password)])
                #expect(badEmail.status == .unprocessableContent)
                let nul = try await client.call(.post, "/api/auth/signup",
                                                body: ["email": "bob@example.com", "password": .string(Self.password), "display_name": "Bob\u{0}"])
                #expect(nul.status == .badRequest, "a NUL character is refused with a clear 400, not a database error")
                let missing = try await client.call(.post, "/api/auth/signup", body: ["email": "bob@example.com"])
                #expect(missing.status == .badRequest && missing.json["error"]?["message"]?.stringValue?.contains("`password`") == true)

                // Sign-in: one answer for a wrong password and an unknown account.
                let wrong = try await client.call(.post, "/api/auth/login", body: ["email": "ada@example.com", "password": "wrong password!"])
                let unknown = try await client.call(.post, "/api/auth/login", body: ["email": "nobody@example.com", "password": "wrong password!"])
                #expect(wrong.status == .unauthorized && unknown.status == .unauthorized)
                #expect(wrong.json["error"]?["message"] == unknown.json["error"]?["message"])
                let login = try await client.call(.post, "/api/auth/login", body: ["email": "ADA@example.com", "password": .string(Self.password)])
                #expect(login.status == .ok)
                let second = try #require(login.json["token"]?.stringValue)

                // A cookie-authenticated write needs the CSRF header; the bearer form does not.
                let forged = try await client.call(.post, "/api/auth/logout", headers: [.cookie: "rungate_session=\(token)"])
                #expect(forged.status == .forbidden && forged.errorCode == "csrf_header_missing")
                let logout = try await client.call(.post, "/api/auth/logout", headers: [.cookie: "rungate_session=\(token)", HTTPField.Name("x-requested-with")!: "rungate"])
                #expect(logout.status == .noContent)
                #expect(logout.headers[.setCookie]?.contains("Max-Age=0") == true)
                let revoked = try await client.call(.get, "/api/me", bearer: token)
                #expect(revoked.status == .unauthorized && revoked.errorCode == "invalid_credentials")
                #expect(try await client.call(.get, "/api/me", bearer: second).status == .ok, "signing out one session leaves the other")

                // Other credentials are refused with a message that names the right service.
                let agent = try await client.call(.get, "/api/me", bearer: Token.generate(.agent).value)
                #expect(agent.status == .unauthorized && agent.json["error"]?["message"]?.stringValue?.contains("data plane") == true)
                let garbage = try await client.call(.get, "/api/me", bearer: "rg_ses_garbage")
                #expect(garbage.status == .unauthorized)
                #expect(try await client.call(.get, "/api/me").status == .unauthorized)
            }
        }
    }

    @Test func signInIsRateLimitedPerAccount() async throws {
        let configuration = {
            var configuration = TestApps.controlPlaneConfiguration()
            configuration.loginLimits = .init(failuresPerAccount: 3, attemptsPerAddress: 100, window: .seconds(60))
            return configuration
        }()
        try await TestDatabase.with { database in
            try await TestApps.controlPlane(database, configuration: configuration).test(.router) { client in
                #expect(try await client.call(.post, "/api/auth/signup", body: ["email": "eve@example.com", "password": .string(Self.password)]).status == .created)
                for _ in 0..<3 {
                    #expect(try await client.call(.post, "/api/auth/login", body: ["email": "eve@example.com", "password": "guessing-wrong-1"]).status == .unauthorized)
                }
                // Now even the right password waits: the account is paused, and the answer says for how long.
                let limited = try await client.call(.post, "/api/auth/login", body: ["email": "eve@example.com", "password": .string(Self.password)])
                #expect(limited.status == .tooManyRequests && limited.errorCode == "login_rate_limited")
                #expect(limited.headers[.retryAfter].flatMap(Int.init).map { (1...60).contains($0) } == true)
                // Other accounts are not affected.
                #expect(try await client.call(.post, "/api/auth/signup", body: ["email": "fay@example.com", "password": .string(Self.password)]).status == .created)
                #expect(try await client.call(.post, "/api/auth/login", body: ["email": "fay@example.com", "password": .string(Self.password)]).status == .ok)
            }
            // The counters live in Redis, so every replica shares them.
            let keys = try await withRedisClient { redis in try await redis.send("KEYS", "rungate:login:account:*") }
            #expect((keys.array?.count ?? 0) >= 1)
        }
    }
}

extension IdentityFlowTests {
    @Test func behindATrustedProxySignInIsLimitedPerClientAddressAndTheAddressIsAudited() async throws {
        let configuration = {
            var configuration = TestApps.controlPlaneConfiguration()
            configuration.trustForwardedFor = true
            configuration.loginLimits = .init(failuresPerAccount: 100, attemptsPerAddress: 3, window: .seconds(60))
            return configuration
        }()
        try await TestDatabase.with { database in
            try await TestApps.controlPlane(database, configuration: configuration).test(.router) { client in
                let proxy = HTTPField.Name("x-forwarded-for")!
                let token = try #require(try await client.call(
                    .post, "/api/auth/signup", headers: [proxy: "198.51.100.7"], body: ["email": "gus@example.com", "password": .string(Self.password)]
                ).json["token"]?.stringValue)
                for attempt in 1...3 {
                    let answer = try await client.call(.post, "/api/auth/login", headers: [proxy: "10.0.0.1, 203.0.113.9"],
                                                       body: ["email": .string("u\(attempt)@example.com"), "password": "not the password"])
                    #expect(answer.status == .unauthorized)
                }
                // A fourth attempt from that address is refused, whatever the account; another address is not.
                let limited = try await client.call(.post, "/api/auth/login", headers: [proxy: "203.0.113.9"],
                                                    body: ["email": "gus@example.com", "password": .string(Self.password)])
                #expect(limited.status == .tooManyRequests)
                let elsewhere = try await client.call(.post, "/api/auth/login", headers: [proxy: "198.51.100.7"],
                                                      body: ["email": "gus@example.com", "password": .string(Self.password)])
                #expect(elsewhere.status == .ok)

                // The audit log records where a write came from.
                let org = try #require(try await client.call(
                    .post, "/api/orgs", bearer: token, headers: [proxy: "198.51.100.7", .userAgent: "audit-test/1.0"], body: ["name": "Gus & co"]
                ).json["id"]?.stringValue)
                let entry = try await client.call(.get, "/api/orgs/\(org)/audit-log", bearer: token).json["data"]?[0]
                #expect(entry?["action"] == "org.create" && entry?["origin_ip"] == "198.51.100.7" && entry?["user_agent"] == "audit-test/1.0")
            }
        }
    }

    @Test func anExpiredSessionIsRefused() async throws {
        try await TestDatabase.with { database in
            let fixture = try await withPostgresClient(url: database.ownerURL) { owner in
                let fixture = try await OrgFixture.create(on: owner)
                try await owner.query("UPDATE sessions SET expires_at = now() - interval '1 second' WHERE user_id = \(fixture.viewer.id)",
                                      logger: TestServers.logger)
                return fixture
            }
            try await TestApps.controlPlane(database).test(.router) { client in
                let expired = try await client.call(.get, "/api/me", bearer: fixture.viewer.session.value)
                #expect(expired.status == .unauthorized && expired.json["error"]?["message"]?.stringValue?.contains("expired") == true)
                #expect(try await client.call(.get, "/api/me", bearer: fixture.member.session.value).status == .ok)
            }
        }
    }
}

extension IdentityFlowTests {
    /// Found by Schemathesis: a name of 200 user-perceived characters can be far more code points,
    /// which is what the database's length check counts; the API counts the same way (422, not 500).
    @Test func namesAreMeasuredAsTheDatabaseMeasuresThem() async throws {
        try await TestDatabase.with { database in
            try await TestApps.controlPlane(database).test(.router) { client in
                let token = try #require(try await client.call(.post, "/api/auth/signup",
                                                               body: ["email": "zal@example.com", "password": .string(Self.password)]).json["token"]?.stringValue)
                let combining = String(repeating: "o\u{0301}\u{0315}", count: 150)  // 150 characters, 450 code points
                let answer = try await client.call(.post, "/api/orgs", bearer: token, body: ["name": .string(combining)])
                #expect(answer.status == .unprocessableContent && answer.errorCode == "invalid_name")
            }
        }
    }
}
