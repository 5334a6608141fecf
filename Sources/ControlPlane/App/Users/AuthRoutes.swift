import Common
import Foundation
import Hummingbird

/// Sign-up, sign-in, sign-out, and who am I.
struct AuthRoutes: RouteCollection {
    let services: ControlPlaneServices

    struct SignUp: Decodable {
        let email: String
        let password: String
        let displayName: String?
    }

    struct LogIn: Decodable {
        let email: String
        let password: String
    }

    struct SessionCreated: Encodable {
        let token: String
        let expiresAt: Date
        let user: User
    }

    struct Me: Encodable {
        let user: User
        let credential: String
        let orgs: [Org]
    }

    var routes: [APIRoute] {
        [
            APIRoute(.post, "/api/auth/signup", access: .anonymous, summary: "Create an account and sign in", success: .created,
                     body: Schema.object(["email": Schema.email, "password": Schema.password, "display_name": Schema.string],
                                         required: ["email", "password"]),
                     errors: [.forbidden: "Sign-up is disabled on this deployment", .conflict: "The e-mail already has an account"], handler: signUp),
            APIRoute(.post, "/api/auth/login", access: .anonymous, summary: "Sign in (rate limited per account and per address)",
                     body: Schema.object(["email": Schema.email, "password": Schema.string], required: ["email", "password"]),
                     errors: [.unauthorized: "Wrong e-mail or password", .tooManyRequests: "Too many attempts; see Retry-After",
                              .serviceUnavailable: "The sign-in limiter's Redis is unreachable"], handler: logIn),
            APIRoute(.post, "/api/auth/logout", access: .user(allowsAdminToken: false), summary: "Sign out (revokes this session)",
                     success: .noContent, handler: logOut),
            APIRoute(.get, "/api/me", access: .user(allowsAdminToken: true), summary: "The signed-in user and their orgs", handler: me),
            APIRoute(.get, "/api/rbac", access: .user(allowsAdminToken: true), summary: "The RBAC catalogue: actions and the least role allowed each",
                     handler: catalogue),
        ]
    }

    @Sendable func signUp(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        guard services.configuration.signupEnabled else {
            throw RungateError(.forbidden, code: "signup_disabled", message: "Self-service sign-up is disabled on this deployment.",
                               recovery: "Ask an org owner or admin to invite you.")
        }
        let body = try await APIJSON.decode(SignUp.self, from: request)
        let email = try Self.normalised(email: body.email)
        try Passwords.validate(body.password)
        let hash = try await services.passwords.hash(body.password)
        guard let user = try await services.users.create(email: email, displayName: body.displayName, passwordHash: hash) else {
            throw RungateError(.conflict, code: "email_taken", message: "An account with this e-mail already exists.",
                               recovery: "Sign in with POST /api/auth/login instead.")
        }
        return try await startSession(for: user, request: request, context: context, status: .created)
    }

    @Sendable func logIn(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let body = try await APIJSON.decode(LogIn.self, from: request)
        let email = body.email.trimmingCharacters(in: .whitespaces).lowercased()
        try await services.loginThrottle.admit(email: email, address: services.origin(request, context).ip)
        let found = try await services.users.credentials(email: email)
        guard try await services.passwords.verify(body.password, hash: found?.passwordHash), let user = found?.user else {
            try await services.loginThrottle.recordFailure(email: email)
            // One answer for unknown e-mail and wrong password: no account enumeration.
            throw RungateError(.unauthorized, code: "invalid_login", message: "The e-mail or password is wrong.",
                               recovery: "Check both and retry; repeated failures pause sign-in for this account.")
        }
        try await services.loginThrottle.recordSuccess(email: email)
        return try await startSession(for: user, request: request, context: context, status: .ok)
    }

    private func startSession(for user: User, request: Request, context: ControlRequestContext, status: HTTPResponse.Status) async throws -> Response {
        let token = Token.generate(.session)
        let lifetime = services.configuration.sessionLifetime
        let expiresAt = Date() + lifetime
        _ = try await services.users.createSession(userID: user.id, tokenHash: token.hash, expiresAt: expiresAt, origin: services.origin(request, context))
        return try APIJSON.response(status, SessionCreated(token: token.value, expiresAt: expiresAt, user: user),
                                    headers: [.setCookie: SessionCookie.set(token.value, maxAge: lifetime), .cacheControl: "no-store"])
    }

    @Sendable func logOut(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        if let sessionID = try context.requireIdentity().sessionID {
            try await services.users.revokeSession(id: sessionID)
        }
        return Response(status: .noContent, headers: [.setCookie: SessionCookie.clear])
    }

    @Sendable func me(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        guard let user = try await services.users.user(id: identity.userID) else {
            throw RungateError.unauthenticated("The account no longer exists or is disabled.")
        }
        var orgs = try await services.database.withUser(identity.userID) { connection in
            try await services.orgs.orgs(of: identity.userID, on: connection)
        }
        let credential: String
        switch identity.credential {
        case .session: credential = "session"
        case .adminToken(_, let orgID, _):
            credential = "admin_token"
            orgs = orgs.filter { $0.id == orgID }  // a token sees only its own org
        }
        return try APIJSON.response(.ok, Me(user: user, credential: credential, orgs: orgs))
    }

    @Sendable func catalogue(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let actions: [JSONValue] = Action.allCases.map { ["action": .string($0.rawValue), "minimum_role": .string($0.minimumRole.rawValue)] }
        let roles: [JSONValue] = Role.allCases.map { .string($0.rawValue) }
        return jsonResponse(.ok, ["roles": .array(roles), "actions": .array(actions)])
    }

    static func normalised(email: String) throws -> String {
        let email = email.trimmingCharacters(in: .whitespaces).lowercased()
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[1].contains("."), email.count <= 254, !email.contains(" ") else {
            throw RungateError(.unprocessableContent, code: "invalid_email", message: "The e-mail address is not valid.",
                               recovery: "Send an address like name@example.com.")
        }
        return email
    }
}
