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
public final class PriceBook: Service, Sendable {
    struct Key: Hashable { let orgID: UUID?; let provider: String; let model: String }

    private let prices = Mutex<[Key: ModelPrice]>([:])
    private let database: Database?
    private let refreshInterval: Duration

    public init(database: Database?, refreshInterval: Duration = .seconds(30)) {
        self.database = database
        self.refreshInterval = refreshInterval
    }

    /// The price for `model` of `provider` (`openai` or `anthropic`) as `orgID` pays it.
    public func price(orgID: UUID, provider: String, model: String) -> ModelPrice? {
        prices.withLock { prices in
            for org in [Optional(orgID), nil] {
                if let exact = prices[Key(orgID: org, provider: provider, model: model)] { return exact }
                let prefixed = prices.filter { $0.key.orgID == org && $0.key.provider == provider && $0.key.model != "*" && model.hasPrefix($0.key.model) }
                if let longest = prefixed.max(by: { $0.key.model.count < $1.key.model.count }) { return longest.value }
            }
            return prices[Key(orgID: orgID, provider: provider, model: "*")] ?? prices[Key(orgID: nil, provider: provider, model: "*")]
        }
    }

    public func set(_ price: ModelPrice, orgID: UUID?, provider: String, model: String) {
        prices.withLock { $0[Key(orgID: orgID, provider: provider, model: model)] = price }
    }

    public func reload() async throws {
        guard let database else { return }
        let rows = try await database.client.query(
            """
            SELECT org_id, provider, model, input_micros_per_mtok, output_micros_per_mtok, cached_input_micros_per_mtok, max_output_tokens
            FROM prices
            """, logger: database.logger)
        var loaded: [Key: ModelPrice] = [:]
        for try await (org, provider, model, input, output, cached, maxOutput) in rows.decode((UUID?, String, String, Int64, Int64, Int64, Int?).self) {
            loaded[Key(orgID: org, provider: provider, model: model)] = ModelPrice(
                inputPerMillion: input, outputPerMillion: output, cachedInputPerMillion: cached, maxOutputTokens: maxOutput)
        }
        prices.withLock { $0 = loaded }
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            do {
                try await reload()
            } catch {
                database?.logger.warning("reloading prices failed; keeping the previous table", metadata: ["error.type": "\(type(of: error))"])
            }
            await sleepUnlessShuttingDown(for: refreshInterval)
        }
    }
}
