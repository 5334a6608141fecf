import Common
import Foundation
import Hummingbird

/// `/v1/runs`: an agent starts, ends and reads its own runs.
struct RunRoutes: Sendable {
    let authenticator: AgentAuthenticator
    let runs: any RunRepository
    let directory: RunDirectory
    let steps: any StepRepository
    let policies: PolicyStore
    let maxBodyBytes: Int

    func add(to router: Router<RungateRequestContext>) {
        router.post("/v1/runs") { request, _ in try await start(request) }
        router.get("/v1/runs/:id") { request, context in
            let (principal, id) = try await authorize(request, context)
            try await directory.ensureWritten(id)
            return try await respond(with: runs.get(id: id, principal: principal), id: id)
        }
        router.post("/v1/runs/:id/end") { request, context in
            let (principal, id) = try await authorize(request, context)
            try await directory.ensureWritten(id)
            let ended = try await runs.end(id: id, principal: principal)
            directory.forget(id)  // the next call on it, here, is refused at once (other replicas: by notification)
            return try respond(with: ended, id: id)
        }
        router.get("/v1/runs/:id/steps") { request, context in
            let (principal, id) = try await authorize(request, context)
            try await directory.ensureWritten(id)
            guard try await runs.get(id: id, principal: principal) != nil else { throw RungateError.notFound("Run \(id.lowercasedString)") }
            let list = try await steps.steps(runID: id, orgID: principal.orgID)
            return jsonResponse(.ok, ["object": "list", "data": .array(list)], headers: [.rungateRunID: id.lowercasedString])
        }
    }

    private func start(_ request: Request) async throws -> Response {
        let principal = try await authenticator.authenticate(request)
        let body = try await request.body.collect(upTo: maxBodyBytes)
        var metadata: JSONValue = [:]
        var id: UUID?
        if body.readableBytes > 0 {
            guard let json = try? JSONDecoder().decode(JSONValue.self, from: body), case .object = json else {
                throw RungateError.badRequest("The request body must be a JSON object such as {\"metadata\": {...}}.")
            }
            if let value = json["metadata"] {
                guard case .object = value else { throw RungateError.badRequest("`metadata` must be an object.") }
                metadata = value
            }
            if let value = json["id"] {
                guard let text = value.stringValue, let parsed = UUID(canonical: text) else { throw RungateError.badRequest("`id` must be a UUID.") }
                id = parsed
            }
        }
        let policy = try await policies.requested(by: request, principal: principal)
        let handle = try await runs.resolve(id: id, principal: principal, policy: policy, metadata: metadata, commit: .flushed)
        guard handle.created else {
            throw RungateError(.conflict, code: "run_exists", message: "A run with this id already exists.", recovery: "Omit `id` to get a new run.")
        }
        guard let run = try await runs.get(id: handle.id, principal: principal) else { throw RungateError.notFound("Run") }
        return jsonResponse(.created, run.json, headers: [.rungateRunID: handle.id.lowercasedString])
    }

    private func authorize(_ request: Request, _ context: RungateRequestContext) async throws -> (AgentPrincipal, UUID) {
        let principal = try await authenticator.authenticate(request)
        guard let text = context.parameters.get("id"), let id = UUID(canonical: text) else {
            throw RungateError.notFound("Run")
        }
        return (principal, id)
    }

    private func respond(with run: Run?, id: UUID) throws -> Response {
        guard let run else { throw RungateError.notFound("Run \(id.lowercasedString)") }
        return jsonResponse(.ok, run.json, headers: [.rungateRunID: id.lowercasedString])
    }
}
