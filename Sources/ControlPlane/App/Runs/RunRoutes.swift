import Common
import Foundation
import Hummingbird
import NIOCore
import PostgresNIO

/// Runs of the org: filtered lists, one run, its steps in order, a step's payloads (decrypted for
/// roles allowed to read them), its artifacts, and cancelling (the agent's next call gets 409).
struct RunRoutes: RouteCollection {
    let services: ControlPlaneServices

    var routes: [APIRoute] {
        [
            APIRoute(.get, "/api/orgs/{org}/runs", access: .org(.runsRead),
                     summary: "List runs, newest first; filters: agent_id, status, since, until, min_cost_micros; limit (1-200), cursor", handler: list),
            APIRoute(.get, "/api/orgs/{org}/runs/{run}", access: .org(.runsRead), summary: "Read a run", handler: read),
            APIRoute(.get, "/api/orgs/{org}/runs/{run}/steps", access: .org(.runsRead), summary: "A run's steps, in order", handler: steps),
            APIRoute(.get, "/api/orgs/{org}/runs/{run}/steps/{step}/payload", access: .org(.payloadsRead),
                     summary: "A step's request and response bodies, decrypted", handler: payload),
            APIRoute(.get, "/api/orgs/{org}/runs/{run}/artifacts", access: .org(.artifactsRead), summary: "A run's artifacts (metadata)",
                     handler: artifacts),
            APIRoute(.get, "/api/orgs/{org}/runs/{run}/artifacts/{artifact}", access: .org(.artifactsRead),
                     summary: "An artifact's content, decrypted, with its media type", handler: artifact),
            APIRoute(.post, "/api/orgs/{org}/runs/{run}/cancel", access: .org(.runsCancel),
                     summary: "Cancel a running run (its next call answers 409)", handler: cancel),
        ]
    }

    struct ArtifactInfo: Codable, Sendable {
        let id: UUID
        let runId: UUID
        let name: String
        let mediaType: String
        let sizeBytes: Int
        let sha256: String
        let createdAt: Date
    }

    @Sendable func list(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let query = ListQuery(request)
        let agentID = try query.uuid("agent_id")
        let status = query.text("status")
        if let status, !["running", "ended", "cancelled"].contains(status) {
            throw RungateError.badRequest("`status` must be running, ended or cancelled.")
        }
        let since = try query.date("since"), until = try query.date("until")
        let minCost = try query.integer("min_cost_micros")
        let limit = try query.limit()
        let cursor = try query.cursor().map { value -> (Date, UUID) in
            let parts = value.split(separator: "|")
            guard parts.count == 2, let micros = Int64(parts[0]), let id = UUID(canonical: parts[1]) else { throw ListQuery.badCursor }
            return (Date(timeIntervalSince1970: Double(micros) / 1_000_000), id)
        }
        let runs = try await services.inOrg(request, context) { tx in
            let rows = try await tx.connection.query(
                """
                SELECT \(unescaped: Run.columns) FROM runs
                WHERE org_id = rungate_current_org()
                  AND (\(agentID)::uuid IS NULL OR agent_id = \(agentID))
                  AND (\(status)::text IS NULL OR status = \(status))
                  AND (\(since)::timestamptz IS NULL OR started_at >= \(since))
                  AND (\(until)::timestamptz IS NULL OR started_at < \(until))
                  AND (\(minCost.map(Int64.init))::bigint IS NULL OR cost_micros >= \(minCost.map(Int64.init)))
                  AND (\(cursor?.0)::timestamptz IS NULL OR (started_at, id) < (\(cursor?.0), \(cursor?.1)))
                ORDER BY started_at DESC, id DESC
                LIMIT \(limit + 1)
                """, logger: tx.logger)
            var runs: [Run] = []
            for try await row in rows { runs.append(try Run(row: row)) }
            return runs
        }
        let page = Array(runs.prefix(limit))
        let next = runs.count > limit ? page.last.map { ListQuery.encodeCursor("\(Int64(($0.startedAt.timeIntervalSince1970 * 1_000_000).rounded()))|\($0.id.uuidString)") } : nil
        return jsonResponse(.ok, ["data": .array(page.map(\.json)), "next_cursor": next.map { .string($0) } ?? .null])
    }

    @Sendable func read(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let id = try context.id("run", "The run")
        return jsonResponse(.ok, try await services.inOrg(request, context) { tx in try await existing(id, tx) }.json)
    }

    @Sendable func steps(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let id = try context.id("run", "The run")
        let steps = try await services.inOrg(request, context) { tx in
            _ = try await existing(id, tx)
            return try await RunSteps.list(runID: id, orgID: tx.orgID, on: tx.connection, logger: tx.logger)
        }
        return jsonResponse(.ok, ["data": .array(steps), "next_cursor": .null])
    }

    @Sendable func payload(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let runID = try context.id("run", "The run")
        let stepID = try context.id("step", "The step")
        let payload = try await services.inOrg(request, context) { tx -> JSONValue in
            guard let (keyID, compression, requestBytes, responseBytes) = try await tx.connection.query(
                """
                SELECT data_key_id, compression, request_ciphertext, response_ciphertext FROM payloads
                WHERE org_id = rungate_current_org() AND run_id = \(runID) AND step_id = \(stepID)
                """, logger: tx.logger
            ).firstRow(decoding: (UUID, String?, ByteBuffer?, ByteBuffer?).self) else {
                throw RungateError(.notFound, code: "not_found", message: "This step has no stored payload.",
                                   recovery: "Payloads are kept only while the org stores them (settings) and within its retention.")
            }
            guard let key = try await services.dataKeys.key(id: keyID, orgID: tx.orgID, on: tx.connection) else {
                throw RungateError(.gone, code: "payload_shredded", message: "The key this payload was encrypted with no longer exists.")
            }
            func open(_ buffer: ByteBuffer?) throws -> JSONValue {
                guard let buffer else { return .null }
                let bytes = try PayloadCompression.plaintext(key.open(Array(buffer: buffer), purpose: .payload),
                                                             compression: compression.flatMap(PayloadCompression.init(rawValue:)))
                if let json = try? JSONDecoder().decode(JSONValue.self, from: Data(bytes)) { return json }
                return .string(String(decoding: bytes, as: UTF8.self))
            }
            return ["step_id": .string(stepID.lowercasedString), "request": try open(requestBytes), "response": try open(responseBytes)]
        }
        return jsonResponse(.ok, payload, headers: [.cacheControl: "no-store"])
    }

    @Sendable func artifacts(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let runID = try context.id("run", "The run")
        let list = try await services.inOrg(request, context) { tx in
            _ = try await existing(runID, tx)
            return try await tx.connection.query(
                """
                SELECT id, run_id, name, media_type, size_bytes, sha256, created_at FROM artifacts
                WHERE org_id = rungate_current_org() AND run_id = \(runID) ORDER BY created_at, id
                """, logger: tx.logger
            ).allRows(decoding: (UUID, UUID, String, String, Int, String, Date).self).map(ArtifactInfo.init)
        }
        return try APIJSON.response(.ok, ListResponse(list))
    }

    @Sendable func artifact(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let runID = try context.id("run", "The run")
        let id = try context.id("artifact", "The artifact")
        let (mediaType, bytes) = try await services.inOrg(request, context) { tx -> (String, [UInt8]) in
            guard let (mediaType, keyID, ciphertext) = try await tx.connection.query(
                """
                SELECT media_type, data_key_id, ciphertext FROM artifacts
                WHERE org_id = rungate_current_org() AND run_id = \(runID) AND id = \(id)
                """, logger: tx.logger
            ).firstRow(decoding: (String, UUID, ByteBuffer).self) else { throw RungateError.notFound("The artifact") }
            guard let key = try await services.dataKeys.key(id: keyID, orgID: tx.orgID, on: tx.connection) else {
                throw RungateError(.gone, code: "artifact_shredded", message: "The key this artifact was encrypted with no longer exists.")
            }
            return (mediaType, try key.open(Array(buffer: ciphertext), purpose: .artifact))
        }
        return Response(status: .ok, headers: [.contentType: mediaType, .cacheControl: "no-store", .contentLength: String(bytes.count)],
                        body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    @Sendable func cancel(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let id = try context.id("run", "The run")
        let run = try await services.inOrg(request, context) { tx in
            let before = try await existing(id, tx)
            guard before.status == .running else {
                throw RungateError(.conflict, code: "run_\(before.status.rawValue)", message: "The run is already \(before.status.rawValue).")
            }
            try await tx.connection.query(
                "UPDATE runs SET status = 'cancelled', ended_at = now() WHERE org_id = rungate_current_org() AND id = \(id) AND status = 'running'",
                logger: tx.logger)
            let after = try await existing(id, tx)
            try await tx.record(AuditEvent("runs.cancel", target: "run", id: id, before: before.json, after: after.json))
            // The same shape as the data plane's `run.ended` (an agent ending its run), plus the run.
            try await tx.emit("run.ended", [
                "run_id": .string(id.lowercasedString), "agent_id": .string(after.agentID.lowercasedString), "reason": "cancelled",
                "step_count": .number(Double(after.stepCount)), "cost_micros": .number(Double(after.costMicros)), "run": after.json,
            ])
            return after
        }
        return jsonResponse(.ok, run.json)
    }

    private func existing(_ id: UUID, _ tx: OrgTransaction) async throws -> Run {
        let rows = try await tx.connection.query(
            "SELECT \(unescaped: Run.columns) FROM runs WHERE org_id = rungate_current_org() AND id = \(id)", logger: tx.logger)
        for try await row in rows { return try Run(row: row) }
        throw RungateError.notFound("The run")
    }
}
