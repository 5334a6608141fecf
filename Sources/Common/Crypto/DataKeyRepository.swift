import Foundation
import Logging
import PostgresNIO

/// Stores and loads each org's wrapped data key (`org_data_keys`).
public protocol DataKeyRepository: Sendable {
    /// Creates and stores a new active data key for `orgID`, inside the caller's transaction.
    func create(orgID: UUID, on connection: PostgresConnection) async throws -> DataKey
    /// The org's active data key, unwrapped; nil when it has none (never created, or shredded).
    func active(orgID: UUID) async throws -> DataKey?
    /// A specific data key by id (ciphertexts name the key they were sealed with).
    func key(id: UUID, orgID: UUID) async throws -> DataKey?
    /// The same two, on a connection the caller scoped (the control plane reads under row-level security).
    func active(orgID: UUID, on connection: PostgresConnection) async throws -> DataKey?
    func key(id: UUID, orgID: UUID, on connection: PostgresConnection) async throws -> DataKey?
}

public struct PostgresDataKeyRepository: DataKeyRepository {
    let database: Database
    let keyring: MasterKeyring

    public init(database: Database, keyring: MasterKeyring) {
        self.database = database
        self.keyring = keyring
    }

    public func create(orgID: UUID, on connection: PostgresConnection) async throws -> DataKey {
        let key = keyring.newDataKey(orgID: orgID)
        let wrapped = try keyring.wrap(key)
        try await connection.query(
            """
            INSERT INTO org_data_keys (id, org_id, master_key_id, wrapped_key)
            VALUES (\(wrapped.id), \(wrapped.orgID), \(wrapped.masterKeyID), \(ByteBuffer(bytes: wrapped.ciphertext)))
            """, logger: database.logger)
        return key
    }

    public func active(orgID: UUID) async throws -> DataKey? {
        try await database.client.withConnection { connection in try await active(orgID: orgID, on: connection) }
    }

    public func key(id: UUID, orgID: UUID) async throws -> DataKey? {
        try await database.client.withConnection { connection in try await key(id: id, orgID: orgID, on: connection) }
    }

    public func active(orgID: UUID, on connection: PostgresConnection) async throws -> DataKey? {
        try await load(connection.query(
            "SELECT id, master_key_id, wrapped_key FROM org_data_keys WHERE org_id = \(orgID) AND retired_at IS NULL",
            logger: database.logger), orgID: orgID)
    }

    public func key(id: UUID, orgID: UUID, on connection: PostgresConnection) async throws -> DataKey? {
        try await load(connection.query(
            "SELECT id, master_key_id, wrapped_key FROM org_data_keys WHERE id = \(id) AND org_id = \(orgID)",
            logger: database.logger), orgID: orgID)
    }

    private func load(_ rows: PostgresRowSequence, orgID: UUID) async throws -> DataKey? {
        for try await (id, masterKeyID, wrapped) in rows.decode((UUID, String, ByteBuffer).self) {
            return try keyring.unwrap(WrappedDataKey(orgID: orgID, id: id, masterKeyID: masterKeyID, ciphertext: Array(buffer: wrapped)))
        }
        return nil
    }
}
