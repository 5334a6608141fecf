import Common
import Foundation
import NIOCore
import PostgresNIO
import Synchronization

/// Where to send an org's call and with which key. The key is plaintext only here, in memory,
/// for the duration of one forward.
public struct ProviderTarget: Sendable {
    public let baseURL: String
    public let apiKey: String
    public let family: ProviderFamily
}

/// Finds and decrypts the org's provider key for a family. Ciphertexts and unwrapped data keys are
/// cached briefly (dropped on an org invalidation); decryption happens on every call.
public final class ProviderKeyResolver: Sendable {
    private struct Sealed: Sendable {
        let baseURL: String?
        let dataKeyID: UUID
        let ciphertext: [UInt8]
        let loaded: ContinuousClock.Instant
    }

    private struct CacheKey: Hashable { let orgID: UUID; let family: ProviderFamily }

    private let database: Database
    private let dataKeys: DataKeyCache
    private let cache = Mutex<[CacheKey: Sealed]>([:])
    private let timeToLive: Duration

    public init(database: Database, dataKeys: DataKeyCache, timeToLive: Duration = .seconds(30)) {
        self.database = database
        self.dataKeys = dataKeys
        self.timeToLive = timeToLive
    }

    public func target(orgID: UUID, family: ProviderFamily) async throws -> ProviderTarget? {
        let key = CacheKey(orgID: orgID, family: family)
        let now = ContinuousClock.now
        var sealed = cache.withLock { cache in cache[key].flatMap { now - $0.loaded < timeToLive ? $0 : nil } }
        if sealed == nil {
            sealed = try await load(orgID: orgID, family: family)
            if let sealed { cache.withLock { $0[key] = sealed } }
        }
        guard let sealed, let dataKey = try await dataKeys.key(id: sealed.dataKeyID, orgID: orgID) else { return nil }
        let apiKey = try dataKey.open(sealed.ciphertext, purpose: .providerKey)
        return ProviderTarget(baseURL: sealed.baseURL ?? family.defaultBaseURL, apiKey: String(decoding: apiKey, as: UTF8.self), family: family)
    }

    public func apply(_ invalidation: Invalidation) {
        cache.withLock { cache in
            switch invalidation {
            case .all: cache.removeAll()
            case .org(let id): cache = cache.filter { $0.key.orgID != id }
            case .token, .agent: break
            }
        }
    }

    private func load(orgID: UUID, family: ProviderFamily) async throws -> Sealed? {
        let rows = try await database.client.query(
            """
            SELECT base_url, data_key_id, ciphertext FROM provider_keys
            WHERE org_id = \(orgID) AND provider = ANY(\(family.storedProviders))
            ORDER BY is_default DESC, created_at DESC LIMIT 1
            """, logger: database.logger)
        for try await (baseURL, dataKeyID, ciphertext) in rows.decode((String?, UUID, ByteBuffer).self) {
            return Sealed(baseURL: baseURL, dataKeyID: dataKeyID, ciphertext: Array(buffer: ciphertext), loaded: .now)
        }
        return nil
    }
}

/// Unwrapped data keys by id, kept briefly so a call does not unwrap on every request.
public final class DataKeyCache: Sendable {
    private struct Entry { let key: DataKey; let loaded: ContinuousClock.Instant }

    private let repository: any DataKeyRepository
    private let entries = Mutex<[UUID: Entry]>([:])
    private let activeByOrg = Mutex<[UUID: UUID]>([:])
    private let timeToLive: Duration

    public init(repository: any DataKeyRepository, timeToLive: Duration = .seconds(60)) {
        self.repository = repository
        self.timeToLive = timeToLive
    }

    public func key(id: UUID, orgID: UUID) async throws -> DataKey? {
        let now = ContinuousClock.now
        if let entry = entries.withLock({ $0[id] }), entry.key.orgID == orgID, now - entry.loaded < timeToLive { return entry.key }
        guard let key = try await repository.key(id: id, orgID: orgID) else { return nil }
        entries.withLock { $0[id] = Entry(key: key, loaded: now) }
        return key
    }

    /// The org's active data key (payloads are sealed with it).
    public func active(orgID: UUID) async throws -> DataKey? {
        if let id = activeByOrg.withLock({ $0[orgID] }), let key = try await key(id: id, orgID: orgID) { return key }
        guard let key = try await repository.active(orgID: orgID) else { return nil }
        entries.withLock { $0[key.id] = Entry(key: key, loaded: .now) }
        activeByOrg.withLock { $0[orgID] = key.id }
        return key
    }

    public func apply(_ invalidation: Invalidation) {
        switch invalidation {
        case .all:
            entries.withLock { $0.removeAll() }
            activeByOrg.withLock { $0.removeAll() }
        case .org(let id):
            entries.withLock { $0 = $0.filter { $0.value.key.orgID != id } }
            activeByOrg.withLock { $0[id] = nil }
        case .token, .agent:
            break
        }
    }
}
