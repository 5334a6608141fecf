import Common
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// A model's price, in micro-dollars per million tokens.
public struct ModelPrice: Sendable, Equatable {
    public var inputPerMillion: Int64
    public var outputPerMillion: Int64
    public var cachedInputPerMillion: Int64
    public var maxOutputTokens: Int?

    public init(inputPerMillion: Int64, outputPerMillion: Int64, cachedInputPerMillion: Int64, maxOutputTokens: Int? = nil) {
        self.inputPerMillion = inputPerMillion
        self.outputPerMillion = outputPerMillion
        self.cachedInputPerMillion = cachedInputPerMillion
        self.maxOutputTokens = maxOutputTokens
    }

    /// The cost of `usage` in micro-dollars, rounded to the nearest micro-dollar.
    public func cost(of usage: TokenUsage) -> Int64 {
        let cached = Int64(min(usage.cachedInput, usage.input))
        let uncached = Int64(usage.input) - cached
        let numerator = uncached * inputPerMillion + cached * cachedInputPerMillion + Int64(usage.output) * outputPerMillion
        return (numerator + 500_000) / 1_000_000
    }
}

/// The price table: shipped defaults plus each org's overrides, reloaded periodically.
///
/// Indexed by org and provider, so a call's look-up reads only its own org's and the defaults'
/// prices for its provider — not every org's (it had filtered the whole table, under the lock, on
/// each call whose model had no exact price of the org's own).
public final class PriceBook: Service, Sendable {
    struct Scope: Hashable { let orgID: UUID?; let provider: String }

    /// One org's (or the defaults') prices for one provider.
    struct Prices: Sendable {
        let exact: [String: ModelPrice]
        /// The named models (not `*`) longest first: the first that starts a model's name is
        /// its longest matching prefix (a dated model priced as its family).
        let prefixes: [(model: String, price: ModelPrice)]

        init(exact: [String: ModelPrice]) {
            self.exact = exact
            self.prefixes = exact.filter { $0.key != "*" }.map { (model: $0.key, price: $0.value) }.sorted { $0.model.count > $1.model.count }
        }
    }

    private let prices = Mutex<[Scope: Prices]>([:])
    private let database: Database?
    private let refreshInterval: Duration

    public init(database: Database?, refreshInterval: Duration = .seconds(30)) {
        self.database = database
        self.refreshInterval = refreshInterval
    }

    /// The price for `model` of `provider` (`openai` or `anthropic`) as `orgID` pays it: the
    /// org's own price for the model or its longest priced prefix, else the default's, else the
    /// org's then the default's catch-all (`*`).
    public func price(orgID: UUID, provider: String, model: String) -> ModelPrice? {
        prices.withLock { prices in
            let own = prices[Scope(orgID: orgID, provider: provider)], defaults = prices[Scope(orgID: nil, provider: provider)]
            func named(in table: Prices?) -> ModelPrice? {
                guard let table else { return nil }
                return table.exact[model] ?? table.prefixes.first(where: { model.hasPrefix($0.model) })?.price
            }
            return named(in: own) ?? named(in: defaults) ?? own?.exact["*"] ?? defaults?.exact["*"]
        }
    }

    public func set(_ price: ModelPrice, orgID: UUID?, provider: String, model: String) {
        let scope = Scope(orgID: orgID, provider: provider)
        prices.withLock { prices in
            var exact = prices[scope]?.exact ?? [:]
            exact[model] = price
            prices[scope] = Prices(exact: exact)
        }
    }

    public func reload() async throws {
        guard let database else { return }
        let rows = try await database.client.query(
            """
            SELECT org_id, provider, model, input_micros_per_mtok, output_micros_per_mtok, cached_input_micros_per_mtok, max_output_tokens
            FROM prices
            """, logger: database.logger)
        var loaded: [Scope: [String: ModelPrice]] = [:]
        for try await (org, provider, model, input, output, cached, maxOutput) in rows.decode((UUID?, String, String, Int64, Int64, Int64, Int?).self) {
            loaded[Scope(orgID: org, provider: provider), default: [:]][model] = ModelPrice(
                inputPerMillion: input, outputPerMillion: output, cachedInputPerMillion: cached, maxOutputTokens: maxOutput)
        }
        let tables = loaded.mapValues(Prices.init(exact:))
        prices.withLock { $0 = tables }
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            do {
                // A query postgres-nio lost never returns: past the deadline it is left behind.
                try await withDeadline(.seconds(10)) { try await self.reload() }
            } catch {
                database?.logger.warning("reloading prices failed; keeping the previous table", metadata: ["error.type": "\(type(of: error))"])
            }
            await sleepUnlessShuttingDown(for: refreshInterval)
        }
    }
}
