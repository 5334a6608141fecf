import Common
import Foundation
import NIOCore
import PostgresNIO
import Synchronization

/// Where to send an org's call and with which key. The key is plaintext only here, in memory,
/// for the duration of one forward.
public struct ProviderTarget: Sendable {
    /// The key's base URL, parsed when the key was loaded; nil if it is not an http(s) URL.
    let base: UpstreamURL?
    public let apiKey: String
    public let family: ProviderFamily

    /// Where a call to `path` (after the base URL, e.g. "/chat/completions") goes.
    func url(_ path: String) throws(UpstreamError) -> UpstreamURL {
        guard let base else { throw .invalidURL }
        return base.appending(path)
    }
}

/// Finds and decrypts the org's provider key for a family. Ciphertexts and unwrapped data keys are
/// cached briefly (dropped on an org invalidation, served stale while PostgreSQL does not answer);
/// decryption happens on every call.
public final class ProviderKeyResolver: Sendable {
    private struct Sealed: Sendable {
        let base: UpstreamURL?
        let dataKeyID: UUID
        let ciphertext: [UInt8]
    }

    private struct CacheKey: Hashable { let orgID: UUID; let family: ProviderFamily }

    private let database: Database
    private let dataKeys: DataKeyCache
    private let cache: ReadThroughCache<CacheKey, Sealed>

    public init(database: Database, dataKeys: DataKeyCache, timeToLive: Duration = .seconds(30)) {
        self.database = database
        self.dataKeys = dataKeys
        self.cache = ReadThroughCache(name: "provider_keys", timeToLive: timeToLive, capacity: 10_000, reachable: { database.health.isReachable })
    }

    public func target(orgID: UUID, family: ProviderFamily) async throws -> ProviderTarget? {
        let database = self.database
        guard let sealed = try await cache.value(for: CacheKey(orgID: orgID, family: family), load: {
            try await Self.load(orgID: orgID, family: family, database: database)
        }), let dataKey = try await dataKeys.key(id: sealed.dataKeyID, orgID: orgID) else { return nil }
        let apiKey = try dataKey.open(sealed.ciphertext, purpose: .providerKey)
        return ProviderTarget(base: sealed.base, apiKey: String(decoding: apiKey, as: UTF8.self), family: family)
    }

    public func apply(_ invalidation: Invalidation) {
        switch invalidation {
        case .all: cache.expireAll()
        case .org(let id): cache.removeAll { key, _ in key.orgID == id }
        case .token, .agent, .run: break
        }
    }

    private static func load(orgID: UUID, family: ProviderFamily, database: Database) async throws -> Sealed? {
        let rows = try await database.client.query(
            """
            SELECT base_url, data_key_id, ciphertext FROM provider_keys
            WHERE org_id = \(orgID) AND provider = ANY(\(family.storedProviders))
            ORDER BY is_default DESC, created_at DESC LIMIT 1
            """, logger: database.logger)
        for try await (baseURL, dataKeyID, ciphertext) in rows.decode((String?, UUID, ByteBuffer).self) {
            return Sealed(base: UpstreamURL(baseURL ?? family.defaultBaseURL), dataKeyID: dataKeyID, ciphertext: Array(buffer: ciphertext))
        }
        return nil
    }
}

/// Unwrapped data keys by id, kept briefly so a call does not unwrap on every request (and kept
/// serving while PostgreSQL does not answer).
public final class DataKeyCache: Sendable {
    private let repository: any DataKeyRepository
    private let keys: ReadThroughCache<UUID, DataKey>
    private let activeByOrg: ReadThroughCache<UUID, UUID>

    public init(repository: any DataKeyRepository, timeToLive: Duration = .seconds(60), health: DatabaseHealth? = nil) {
        self.repository = repository
        let reachable: @Sendable () -> Bool = { health?.isReachable ?? true }
        self.keys = ReadThroughCache(name: "data_keys", timeToLive: timeToLive, capacity: 10_000, reachable: reachable)
        self.activeByOrg = ReadThroughCache(name: "active_data_keys", timeToLive: timeToLive, capacity: 10_000, reachable: reachable)
    }

    public func key(id: UUID, orgID: UUID) async throws -> DataKey? {
        let repository = self.repository
        let key = try await keys.value(for: id) { try await repository.key(id: id, orgID: orgID) }
        return key?.orgID == orgID ? key : nil
    }

    /// The org's active data key (payloads are sealed with it).
    public func active(orgID: UUID) async throws -> DataKey? {
        let repository = self.repository, keys = self.keys
        guard let id = try await activeByOrg.value(for: orgID, load: {
            guard let key = try await repository.active(orgID: orgID) else { return nil }
            keys.put(key, for: key.id)
            return key.id
        }) else { return nil }
        return try await key(id: id, orgID: orgID)
    }

    public func apply(_ invalidation: Invalidation) {
        switch invalidation {
        case .all:
            keys.expireAll()
            activeByOrg.expireAll()
        case .org(let id):
            keys.removeAll { $1.orgID == id }
            activeByOrg.remove(id)
        case .token, .agent, .run:
            break
        }
    }
}
