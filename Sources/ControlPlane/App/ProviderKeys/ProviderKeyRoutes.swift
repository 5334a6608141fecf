import Common
import Foundation
import Hummingbird
import NIOCore
import PostgresNIO

/// An org's provider key as the API shows it: never the secret, only a fingerprint and its last four.
public struct ProviderKeyInfo: Codable, Sendable {
    public let id: UUID
    public let provider: String
    public let name: String
    public let baseUrl: String?
    public let fingerprint: String
    public let lastFour: String
    public let isDefault: Bool
    public let createdAt: Date
    public let updatedAt: Date
}

/// Provider keys (OpenAI, Anthropic, any OpenAI-compatible base URL), sealed with the org's data key.
/// The data plane caches keys; every change is announced so it reloads.
struct ProviderKeyRoutes: RouteCollection {
    let services: ControlPlaneServices

    static let providers = ["openai", "anthropic", "openai_compatible"]

    var routes: [APIRoute] {
        [
            APIRoute(.get, "/api/orgs/{org}/provider-keys", access: .org(.providerKeysRead), summary: "List provider keys (never their secrets)",
                     handler: list),
            APIRoute(.post, "/api/orgs/{org}/provider-keys", access: .org(.providerKeysCreate),
                     summary: "Add a provider key (stored encrypted; base URLs to private addresses are refused)", success: .created,
                     body: Schema.object(["provider": ["type": "string", "enum": .array(Self.providers.map { .string($0) })], "name": Schema.name,
                                          "api_key": ["type": "string", "minLength": 8, "maxLength": 4096, "pattern": "^\\S+$"], "base_url": Schema.string,
                                          "is_default": Schema.boolean], required: ["provider", "name", "api_key"]), handler: create),
            APIRoute(.patch, "/api/orgs/{org}/provider-keys/{key}", access: .org(.providerKeysUpdate),
                     summary: "Replace a provider key's secret, base URL, name or default flag",
                     body: Schema.object(["name": Schema.name, "api_key": ["type": "string", "minLength": 8, "maxLength": 4096, "pattern": "^\\S+$"],
                                          "base_url": Schema.nullable(Schema.string), "is_default": Schema.boolean]), handler: update),
            APIRoute(.delete, "/api/orgs/{org}/provider-keys/{key}", access: .org(.providerKeysDelete), summary: "Delete a provider key",
                     success: .noContent, handler: delete),
        ]
    }

    struct CreateBody: Decodable {
        let provider: String
        let name: String
        let apiKey: String
        let baseUrl: String?
        let isDefault: Bool?
    }

    typealias Row = (UUID, String, String, String?, String, String, Bool, Date, Date)

    @Sendable func list(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let keys = try await services.inOrg(request, context) { tx in try await select(nil, tx) }
        return try APIJSON.response(.ok, ListResponse(keys))
    }

    @Sendable func create(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let body = try await APIJSON.decode(CreateBody.self, from: request)
        guard Self.providers.contains(body.provider) else { throw RungateError.invalidField("provider", "must be one of \(Self.providers.joined(separator: ", "))") }
        let name = try OrgRoutes.validName(body.name)
        let secret = try Self.validSecret(body.apiKey)
        if body.provider == "openai_compatible", body.baseUrl == nil {
            throw RungateError.invalidField("base_url", "is required for an OpenAI-compatible provider")
        }
        let baseURL = try await checkedURL(body.baseUrl)
        let key = try await services.inOrg(request, context) { tx in
            let sealed = try await seal(secret, tx)
            guard let id = try await tx.connection.query(
                """
                INSERT INTO provider_keys (org_id, provider, name, base_url, data_key_id, ciphertext, fingerprint, last_four, is_default)
                VALUES (rungate_current_org(), \(body.provider), \(name), \(baseURL), \(sealed.keyID), \(sealed.ciphertext),
                        \(ProviderKeyFingerprint.of(secret)), \(String(secret.suffix(4))), false)
                ON CONFLICT (org_id, name) DO NOTHING RETURNING id
                """, logger: tx.logger
            ).first(decoding: UUID.self) else {
                throw RungateError(.conflict, code: "provider_key_name_taken", message: "A provider key with this name already exists.")
            }
            if body.isDefault == true { try await makeDefault(id, tx) }
            let key = try await select(id, tx)[0]
            try await tx.record(AuditEvent("provider_keys.create", target: "provider_key", id: id, after: APIJSON.tree(key)))
            try await tx.notify(.org(tx.orgID))
            return key
        }
        return try APIJSON.response(.created, key)
    }

    @Sendable func update(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let id = try context.id("key", "The provider key")
        let patch = try await PatchBody.decode(from: request, allowed: ["name", "api_key", "base_url", "is_default"])
        let name = try patch.string("name")
        let secret = try patch.string("api_key")
        let isDefault = try patch.bool("is_default")
        var baseURL = try patch.string("base_url")
        if case .value(let url) = baseURL { baseURL = .value(try await checkedURL(url)!) }
        let key = try await services.inOrg(request, context) { [baseURL] tx in
            guard let before = try await select(id, tx).first else { throw RungateError.notFound("The provider key") }
            if case .value(let name) = name {
                let taken = try await tx.connection.query(
                    "SELECT EXISTS (SELECT 1 FROM provider_keys WHERE org_id = rungate_current_org() AND name = \(name) AND id <> \(id))", logger: tx.logger
                ).first(decoding: Bool.self) ?? false
                if taken { throw RungateError(.conflict, code: "provider_key_name_taken", message: "A provider key with this name already exists.") }
                try await tx.connection.query(
                    "UPDATE provider_keys SET name = \(try OrgRoutes.validName(name)), updated_at = now() WHERE org_id = rungate_current_org() AND id = \(id)",
                    logger: tx.logger)
            }
            if case .value(let raw) = secret {
                let secret = try Self.validSecret(raw)
                let sealed = try await seal(secret, tx)
                try await tx.connection.query(
                    """
                    UPDATE provider_keys SET data_key_id = \(sealed.keyID), ciphertext = \(sealed.ciphertext),
                        fingerprint = \(ProviderKeyFingerprint.of(secret)), last_four = \(String(secret.suffix(4))), updated_at = now()
                    WHERE org_id = rungate_current_org() AND id = \(id)
                    """, logger: tx.logger)
            }
            if case .absent = baseURL {} else {
                let url = baseURL.applied(to: nil)
                if url == nil, before.provider == "openai_compatible" {
                    throw RungateError.invalidField("base_url", "is required for an OpenAI-compatible provider")
                }
                try await tx.connection.query(
                    "UPDATE provider_keys SET base_url = \(url), updated_at = now() WHERE org_id = rungate_current_org() AND id = \(id)", logger: tx.logger)
            }
            if case .value(true) = isDefault { try await makeDefault(id, tx) }
            if case .value(false) = isDefault {
                try await tx.connection.query("UPDATE provider_keys SET is_default = false WHERE org_id = rungate_current_org() AND id = \(id)", logger: tx.logger)
            }
            let after = try await select(id, tx)[0]
            try await tx.record(AuditEvent("provider_keys.update", target: "provider_key", id: id, before: APIJSON.tree(before), after: APIJSON.tree(after)))
            try await tx.notify(.org(tx.orgID))
            return after
        }
        return try APIJSON.response(.ok, key)
    }

    @Sendable func delete(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let id = try context.id("key", "The provider key")
        return try await services.deleteAudited(request, context, action: "provider_keys.delete", target: "provider_key", id: id, find: { tx in
            guard let key = try await select(id, tx).first else { throw RungateError.notFound("The provider key") }
            return key
        }) { tx, _ in
            try await tx.connection.query("DELETE FROM provider_keys WHERE org_id = rungate_current_org() AND id = \(id)", logger: tx.logger)
            try await tx.notify(.org(tx.orgID))
        }
    }

    private func select(_ id: UUID?, _ tx: OrgTransaction) async throws -> [ProviderKeyInfo] {
        try await tx.connection.query(
            """
            SELECT id, provider, name, base_url, fingerprint, last_four, is_default, created_at, updated_at FROM provider_keys
            WHERE org_id = rungate_current_org() AND (\(id)::uuid IS NULL OR id = \(id)) ORDER BY provider, name
            """, logger: tx.logger
        ).allRows(decoding: Row.self).map(ProviderKeyInfo.init)
    }

    /// One default per API family: the one the data plane uses for that family.
    private func makeDefault(_ id: UUID, _ tx: OrgTransaction) async throws {
        try await tx.connection.query(
            """
            UPDATE provider_keys k SET is_default = (k.id = \(id))
            FROM provider_keys chosen
            WHERE chosen.id = \(id) AND k.org_id = rungate_current_org()
              AND (k.provider = 'anthropic') = (chosen.provider = 'anthropic')
            """, logger: tx.logger)
    }

    private func seal(_ secret: String, _ tx: OrgTransaction) async throws -> (keyID: UUID, ciphertext: ByteBuffer) {
        guard let key = try await services.dataKeys.active(orgID: tx.orgID, on: tx.connection) else {
            throw RungateError(.internalServerError, code: "data_key_missing", message: "The organisation has no data key to encrypt with.",
                               recovery: "Report this to your operator.")
        }
        return (key.id, ByteBuffer(bytes: try key.seal(Array(secret.utf8), purpose: .providerKey)))
    }

    private func checkedURL(_ url: String?) async throws -> String? {
        guard let url else { return nil }
        do {
            return try await services.outboundURLs.check(url)
        } catch {
            throw RungateError.invalidField("base_url", error.reason,
                                            recovery: "Use the provider's public https URL including its version path, e.g. https://api.openai.com/v1.")
        }
    }

    static func validSecret(_ secret: String) throws -> String {
        let secret = secret.trimmingCharacters(in: .whitespacesAndNewlines)
        guard (8...4096).contains(secret.count), !secret.contains(where: \.isWhitespace) else {
            throw RungateError.invalidField("api_key", "must be 8 to 4096 characters without spaces")
        }
        return secret
    }
}
