import Common
import Foundation
import Hummingbird
import PostgresNIO

/// One price as the org sees it: its own override, or the shipped default.
public struct Price: Codable, Sendable {
    public let id: UUID
    public let provider: String
    public let model: String
    public let inputMicrosPerMtok: Int64
    public let outputMicrosPerMtok: Int64
    public let cachedInputMicrosPerMtok: Int64
    public let maxOutputTokens: Int?
    /// `org` for the org's override, `default` for the shipped price.
    public let source: String
    public let updatedAt: Date
}

/// The price table: shipped defaults (micro-dollars per million tokens) and the org's overrides.
/// The data plane reloads prices periodically (about a minute).
struct PriceRoutes: RouteCollection {
    let services: ControlPlaneServices

    var routes: [APIRoute] {
        let micros: JSONValue = ["type": "integer", "minimum": 0]
        return [
            APIRoute(.get, "/api/orgs/{org}/prices", access: .org(.pricesRead), summary: "The effective price table (overrides shadow defaults)",
                     handler: list),
            APIRoute(.put, "/api/orgs/{org}/prices", access: .org(.pricesUpdate), summary: "Set the org's price for a provider and model",
                     body: Schema.object(["provider": ["type": "string", "enum": ["openai", "anthropic"]], "model": Schema.name,
                                          "input_micros_per_mtok": micros, "output_micros_per_mtok": micros,
                                          "cached_input_micros_per_mtok": micros, "max_output_tokens": Schema.integer(1, 10_000_000)],
                                         required: ["provider", "model", "input_micros_per_mtok", "output_micros_per_mtok"]), handler: set),
            APIRoute(.delete, "/api/orgs/{org}/prices/{price}", access: .org(.pricesUpdate), summary: "Remove an org override (the default applies again)",
                     success: .noContent, handler: delete),
        ]
    }

    struct SetBody: Decodable {
        let provider: String
        let model: String
        let inputMicrosPerMtok: Int64
        let outputMicrosPerMtok: Int64
        let cachedInputMicrosPerMtok: Int64?
        let maxOutputTokens: Int?
    }

    @Sendable func list(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let prices = try await services.inOrg(request, context) { tx in try await select(tx, onlyOrg: false) }
        return try APIJSON.response(.ok, ListResponse(prices))
    }

    @Sendable func set(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let body = try await APIJSON.decode(SetBody.self, from: request)
        guard ["openai", "anthropic"].contains(body.provider) else { throw RungateError.invalidField("provider", "must be openai or anthropic") }
        let model = body.model.trimmingCharacters(in: .whitespaces)
        guard (1...200).contains(model.count) else { throw RungateError.invalidField("model", "must be 1 to 200 characters (or `*` for the fallback)") }
        for (field, value) in [("input_micros_per_mtok", body.inputMicrosPerMtok), ("output_micros_per_mtok", body.outputMicrosPerMtok),
                               ("cached_input_micros_per_mtok", body.cachedInputMicrosPerMtok ?? 0)] where value < 0 {
            throw RungateError.invalidField(field, "cannot be negative")
        }
        let price = try await services.inOrg(request, context) { tx in
            // Before: the price that applied until now, the org's own or the default it shadows.
            let before = try await select(tx, onlyOrg: false).first { $0.provider == body.provider && $0.model == model }
            let id = try await tx.connection.query(
                """
                INSERT INTO prices (org_id, provider, model, input_micros_per_mtok, output_micros_per_mtok, cached_input_micros_per_mtok, max_output_tokens)
                VALUES (rungate_current_org(), \(body.provider), \(model), \(body.inputMicrosPerMtok), \(body.outputMicrosPerMtok),
                        \(body.cachedInputMicrosPerMtok ?? body.inputMicrosPerMtok), \(body.maxOutputTokens))
                ON CONFLICT (COALESCE(org_id, '00000000-0000-0000-0000-000000000000'::uuid), provider, model) DO UPDATE SET
                    input_micros_per_mtok = EXCLUDED.input_micros_per_mtok, output_micros_per_mtok = EXCLUDED.output_micros_per_mtok,
                    cached_input_micros_per_mtok = EXCLUDED.cached_input_micros_per_mtok, max_output_tokens = EXCLUDED.max_output_tokens,
                    updated_at = now()
                RETURNING id
                """, logger: tx.logger
            ).first(decoding: UUID.self)!
            let after = try await select(tx, onlyOrg: true).first { $0.id == id }!
            try await tx.record(AuditEvent("prices.update", target: "price", id: id, before: before.map(APIJSON.tree), after: APIJSON.tree(after)))
            return after
        }
        return try APIJSON.response(.ok, price)
    }

    @Sendable func delete(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let id = try context.id("price", "The price override")
        return try await services.deleteAudited(request, context, action: "prices.delete", target: "price", id: id, find: { tx in
            guard let price = try await select(tx, onlyOrg: true).first(where: { $0.id == id }) else { throw RungateError.notFound("The price override") }
            return price
        }) { tx, _ in
            try await tx.connection.query("DELETE FROM prices WHERE org_id = rungate_current_org() AND id = \(id)", logger: tx.logger)
        }
    }

    /// The org's overrides, or the effective table (each provider and model once, the override first).
    private func select(_ tx: OrgTransaction, onlyOrg: Bool) async throws -> [Price] {
        try await tx.connection.query(
            """
            SELECT DISTINCT ON (provider, model) id, provider, model, input_micros_per_mtok, output_micros_per_mtok,
                   cached_input_micros_per_mtok, max_output_tokens, CASE WHEN org_id IS NULL THEN 'default' ELSE 'org' END, updated_at
            FROM prices
            WHERE (org_id = rungate_current_org() OR (org_id IS NULL AND NOT \(onlyOrg)))
            ORDER BY provider, model, org_id NULLS LAST
            """, logger: tx.logger
        ).allRows(decoding: (UUID, String, String, Int64, Int64, Int64, Int?, String, Date).self).map(Price.init)
    }
}
