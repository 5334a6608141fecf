import Common
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1

/// Forwards one agent call to its provider: authenticate, attach to a run, check the run's state,
/// swap the agent's token for the org's provider key, forward (streams pass through chunk by
/// chunk), read the usage, price it, and record the step off the request path.
struct ProxyService: Sendable {
    let authenticator: AgentAuthenticator
    let runs: RunDirectory
    let providerKeys: ProviderKeyResolver
    let dataKeys: DataKeyCache
    let upstream: UpstreamClient
    let steps: StepRecorder
    let prices: PriceBook
    let policies: PolicyStore
    let governance: GovernanceGate
    let budgets: BudgetGuard
    let recorder: GovernanceRecorder
    let approvals: ApprovalGates
    let drift: DriftWatch
    let maxBodyBytes: Int
    /// Payload bytes kept per response for the run's record (the agent still receives everything).
    let maxStoredResponseBytes = 1 << 20
    /// The largest answer read whole (non-streamed, or a stream held for an approval gate).
    static let maxAnswerBytes = 64 * 1024 * 1024

    // MARK: Model endpoints

    func forward(_ endpoint: ProviderEndpoint, request: Request, context: some RequestContext) async throws -> Response {
        let started = ContinuousClock.now
        let principal = try await authenticator.authenticate(request)
        let body = try await collectBody(request)
        // The whole body is checked either way. Its whole tree is built now when a policy will most
        // likely read it (the agent is pinned to one, or the call names one); otherwise only the
        // fields the proxy reads itself are.
        let likelyGoverned = principal.policyID != nil || request.headers[.rungatePolicy] != nil
        let (fields, parsedTree) = try Self.parse(body, whole: likelyGoverned, endpoint: endpoint)
        let fingerprint = SHA256.hash(data: body.readableBytesView).hexString
        let requestedRunID = try requestedRunID(request)
        let requestedPolicy = try await policies.requested(by: request, principal: principal)
        let run = try await runs.resolve(id: requestedRunID, principal: principal, policy: requestedPolicy)
        let runHeader: HTTPFields = [.rungateRunID: run.id.lowercasedString]
        // The whole request when a policy reads it (content, tools, loops): parsed above, or now that
        // the run turns out to have one. Without it, `json` is only `fields` (every reader of `json`
        // below is behind a loaded policy).
        // (Typed and spelled out: `JSONValue` takes `nil` as its own `.null`.)
        let tree: JSONValue? = if let parsedTree { parsedTree } else if run.policyID != nil { Self.tree(of: body, fields: fields) } else { nil }
        let json = tree ?? .object(fields)
        // Stored with the step: control characters (NUL above all) would make the row unwritable.
        let model = fields["model"]?.stringValue.map(Self.storable(model:))
        let streaming = fields["stream"] == .bool(true)
        var step = StepRecord(
            orgID: principal.orgID, runID: run.id, kind: .modelCall,
            endpoint: endpoint.rawValue, provider: endpoint.family.rawValue, model: model, status: "ok", requestFingerprint: fingerprint)
        step.policyVersion = run.policyVersion

        // Refusals before forwarding are steps too, and say how to recover.
        func refuse(_ error: RungateError, rule: String, events: [OutboxEvent] = []) -> RungateError {
            var block = step
            block.events = events
            block.kind = .block
            block.status = "blocked"
            block.rule = rule
            block.httpStatus = Int(error.status.code)
            block.errorCode = error.code
            block.latencyMilliseconds = milliseconds(since: started)
            steps.record(block)
            var error = error
            error.headers.append(contentsOf: runHeader)
            return error
        }
        guard run.status == .running else {
            throw refuse(RungateError(
                .conflict, code: "run_\(run.status.rawValue)", message: "Run \(run.id.lowercasedString) is \(run.status.rawValue); it takes no more calls.",
                recovery: "Start a new run: send the call without x-rungate-run-id, or with a new id.",
                rule: RuleMatch(rule: "run.state")), rule: "run.state")
        }
        // Governance refusals are steps; a policy's 403 also announces `policy.violation`, with its step.
        func refuse(_ refusal: GovernanceGate.Refusal) -> RungateError {
            let violation = refusal.error.status == .forbidden ? [OutboxEvent(orgID: principal.orgID, type: .policyViolation, payload: [
                "run_id": .string(run.id.lowercasedString), "agent_id": .string(principal.agentID.lowercasedString),
                "rule": refusal.error.rule.map { $0.json } ?? .null, "code": .string(refusal.error.code),
            ])] : []
            return refuse(refusal.error, rule: refusal.rule, events: violation)
        }
        // The run's policy: models, tools, ceilings, content (403); what needs counters comes below.
        let admission: GovernanceGate.Admission
        let policy: ActivePolicy?
        do {
            (policy, admission) = try await governance.evaluate(json: json, model: model, principal: principal, run: run)
        } catch {
            throw refuse(error)
        }
        if let policy {
            drift.observe(model: model, tools: admission.toolNames, principal: principal, policy: policy, recorder: recorder)
        }
        // Approval gates (202): a repeat of a held call gets its decision, not a second upstream
        // call — and is not counted again as a loop, a request or a reservation.
        let gated = policy.map { !($0.rules.tools?.requireApproval ?? []).isEmpty } ?? false
        // A stream that may propose a gated tool call is read whole before the agent sees it.
        let bufferStream = gated && streaming && policy.map { ApprovalGates.offersGatedTool(admission.toolNames, policy: $0) } == true
        if gated, let policy,
           let answer = try await heldDecision(policy: policy, principal: principal, run: run, fingerprint: fingerprint, runHeader: runHeader,
                                               streaming: streaming, step: step, started: started, refuse: { refuse($0, rule: $1) }) {
            return answer
        }
        // Loops (403), rate limits (429) and budgets (402: the worst case this call could cost is
        // set aside on every applicable cap), checked and charged together in one step.
        let applicable: [ApplicableBudget]
        do {
            applicable = try await budgets.applicable(principal: principal, runID: run.id)
        } catch {
            // Budgets never fail open: without them, no call goes out.
            throw refuse(.dependencyUnavailable("database"), rule: "budget")
        }
        let rateLimitHeaders: HTTPFields
        let hold: BudgetHold
        do {
            (rateLimitHeaders, hold) = try await governance.clear(
                admission, policy: policy, budgets: applicable,
                reserve: worstCaseCost(fields, bodyBytes: body.readableBytes, endpoint: endpoint, model: model, principal: principal),
                principal: principal, run: run)
        } catch {
            throw refuse(error)
        }
        let target: ProviderTarget
        do throws(RungateError) {
            guard let found = try await providerTarget(principal: principal, family: endpoint.family) else {
                throw RungateError(
                    HTTPResponse.Status(code: 424), code: "provider_key_missing",
                    message: "The organisation has no \(endpoint.family.rawValue) provider key configured.",
                    recovery: "An org admin can add one in the control plane (provider keys).")
            }
            target = found
        } catch {
            // Cleared, but it cannot be forwarded: what the check reserved is given back at once
            // (not held until its lease runs out), and the refusal is a step like the others.
            recorder.settle(hold, actual: 0, orgID: principal.orgID, runID: run.id)
            throw refuse(error, rule: "provider.key")
        }

        // Content rules may have redacted the request; and ask for the usage chunk the client did
        // not, to price the stream (stripped again on the way back).
        let stripUsage = endpoint == .chatCompletions && streaming && fields["stream_options"]?["include_usage"] != .bool(true)
        // What the run's record keeps: the request as the provider saw it (redactions applied); the
        // usage request, when added, is ours and is sent but not recorded. Each is encoded once.
        let recordedBody = admission.rewritten.map { ByteBuffer(bytes: JSONSerializer.bytes($0)) } ?? body
        let forwardedBody: ByteBuffer
        if stripUsage, admission.rewritten == nil, fields["stream_options"] == nil, let spliced = UsageScanner.requestingUsage(in: body) {
            // The common case (a stream without stream_options): the member is written into the
            // agent's bytes as they are, instead of re-encoding the whole request.
            forwardedBody = spliced
        } else if stripUsage, case .object(var object) = admission.rewritten ?? tree ?? Self.tree(of: body, fields: fields) {
            var options: [String: JSONValue] = [:]
            if case .object(let existing) = fields["stream_options"] { options = existing }
            options["include_usage"] = true
            object["stream_options"] = .object(options)
            forwardedBody = ByteBuffer(bytes: JSONSerializer.bytes(.object(object)))
        } else {
            forwardedBody = recordedBody
        }

        var upstreamHeaders = HeaderFilter.upstream(request.headers)
        // None of these crossed the filter: added, not searched for.
        upstreamHeaders.add(name: "content-type", value: "application/json")
        switch target.family {
        case .openAI: upstreamHeaders.add(name: "authorization", value: "Bearer \(target.apiKey)")
        case .anthropic: upstreamHeaders.add(name: "x-api-key", value: target.apiKey)
        }

        let response: UpstreamResponse
        do {
            response = try await upstream.execute(.POST, url: try target.url(endpoint.upstreamPath), headers: upstreamHeaders, body: forwardedBody)
        } catch {
            recorder.settle(hold, actual: 0, orgID: principal.orgID, runID: run.id)
            throw upstreamFailure(error, step: step, started: started, runHeader: runHeader)
        }

        let payloadKey = principal.storePayloads ? try? await dataKeys.active(orgID: principal.orgID) : nil
        let settlement = CallSettlement(steps: steps, recorder: recorder, governance: governance, hold: hold, orgID: principal.orgID,
                                        tokenCounters: admission.tokenCounters, payloadKey: payloadKey, request: recordedBody)
        let status = HTTPResponse.Status(code: Int(response.status.code))
        let isStream = response.status == .ok && (response.headers.first(name: "content-type")?.hasPrefix("text/event-stream") ?? false)
        // The answer's fields, gathered as an array and made `HTTPFields` once (`HeaderFilter.downstream`).
        var headers = HeaderFilter.downstream(response.headers)
        if isStream {
            // Passed on as it comes, or held and replayed: never cached either way.
            headers.removeAll { $0.name == .cacheControl }
            headers.append(HTTPField(name: .cacheControl, value: "no-cache"))
        }
        headers.append(contentsOf: runHeader)
        headers.append(contentsOf: rateLimitHeaders)
        headers.append(HTTPField(name: .rungateStepID, value: step.id.lowercasedString))  // the filter drops a provider's

        // Whole answers — and streams that may propose a gated tool call, read to their end before
        // the agent sees a byte — are inspected, held or returned here; other streams pass through.
        if !isStream || bufferStream {
            var scanner = UsageScanner(endpoint: endpoint, stripUsageChunk: isStream && stripUsage)
            var answer = ByteBuffer()
            do {
                if isStream {
                    scanner.toolCalls = StreamedToolCalls()
                    for try await chunk in response.body {
                        if step.timeToFirstTokenMilliseconds == nil { step.timeToFirstTokenMilliseconds = milliseconds(since: started) }
                        answer.writeImmutableBuffer(scanner.feed(chunk))
                        guard answer.readableBytes <= Self.maxAnswerBytes else { throw UpstreamError.tooLarge }
                    }
                    answer.writeImmutableBuffer(scanner.finish())
                } else {
                    answer = try await response.body.collect(upTo: Self.maxAnswerBytes)
                }
            } catch {
                guard isStream else {
                    recorder.settle(hold, actual: 0, orgID: principal.orgID, runID: run.id)
                    throw upstreamFailure(error, step: step, started: started, runHeader: runHeader)
                }
                // A held stream cut off: the agent got nothing, the provider bills what it sent.
                step.status = "incomplete"
                step.errorCode = "stream_interrupted"
                step.httpStatus = 502
                step.usage = scanner.finalUsage(requestBytes: body.readableBytes)
                step.costMicros = cost(step.usage, principal: principal, endpoint: endpoint, model: model)
                step.latencyMilliseconds = milliseconds(since: started)
                settlement.close(step, response: answer)
                var failure = RungateError(.badGateway, code: "stream_interrupted",
                                           message: "The provider's stream ended before it was complete; nothing was delivered or held.",
                                           recovery: "Retry the call.")
                failure.headers.append(contentsOf: runHeader)
                throw failure
            }
            let succeeded = (200..<300).contains(Int(response.status.code))
            step.httpStatus = Int(response.status.code)
            step.status = succeeded ? "ok" : "upstream_error"
            step.latencyMilliseconds = milliseconds(since: started)
            if !succeeded { step.errorCode = "upstream_\(response.status.code)" }
            // A proposed tool call under a gate: the answer is held until a person decides.
            var holding: (rule: String, call: ProposedToolCall)?
            if succeeded, gated, let policy {
                let proposed = isStream ? scanner.toolCalls?.calls ?? []
                    : (try? JSONParser.parse(answer.readableBytesView)).map(ApprovalGates.proposedCalls(in:)) ?? []
                holding = ApprovalGates.match(proposed, policy: policy)
                if holding != nil { step.status = "held_for_approval" }
            }
            // The step — the answer's usage read, its cost priced, the budget settled — is recorded
            // once the answer is out, when it goes out: none of it is the agent's to wait for.
            let answeredStep = step, answeredScanner = scanner, answered = answer, requestBytes = body.readableBytes, prices = self.prices
            let recordAnswer: @Sendable () -> Void = {
                var step = answeredStep, scanner = answeredScanner
                if succeeded, !isStream { scanner.scan(body: answered) }
                step.usage = succeeded ? scanner.finalUsage(requestBytes: requestBytes) : TokenUsage()
                step.costMicros = Self.cost(step.usage, prices: prices, principal: principal, endpoint: endpoint, model: model)
                settlement.close(step, response: answered)
            }
            if var refused = RungateError.providerRefusedKey(answering: Int(response.status.code)) {
                recordAnswer()
                refused.headers.append(contentsOf: runHeader)
                throw refused
            }
            if let holding, let policy {
                recordAnswer()
                return try await holdForApproval(answer, rule: holding.rule, call: holding.call, policy: policy, principal: principal, run: run,
                                      fingerprint: fingerprint, endpoint: endpoint, runHeader: runHeader)
            }
            headers.append(HTTPField(name: .contentLength, value: String(answer.readableBytes)))  // the filter drops the provider's
            // Recorded before the task can suspend again: the agent's next call on this connection,
            // read on the same event loop, finds its run's counts (ceilings) already grown.
            return Response(status: status, headers: HTTPFields(gathered: headers), body: ResponseBody(contentLength: answered.readableBytes) { writer in
                defer { recordAnswer() }
                try await writer.write(answered)
                try await writer.finish(nil)
            })
        }

        // Streaming: pass chunks through as they arrive; the step is recorded when the stream ends.
        let requestBytes = body.readableBytes, maxStored = maxStoredResponseBytes, prices = self.prices, strip = stripUsage, initialStep = step
        return Response(status: status, headers: HTTPFields(gathered: headers), body: ResponseBody { writer in
            var step = initialStep
            var scanner = UsageScanner(endpoint: endpoint, stripUsageChunk: strip)
            var stored = ByteBuffer()
            var clientGone = false
            func finish(_ status: String) {
                step.status = status
                step.httpStatus = 200
                step.usage = scanner.finalUsage(requestBytes: requestBytes)
                step.costMicros = Self.cost(step.usage, prices: prices, principal: principal, endpoint: endpoint, model: model)
                step.latencyMilliseconds = Self.milliseconds(since: started)
                if status != "ok" { step.errorCode = status == "cancelled" ? "client_disconnected" : "stream_interrupted" }
                settlement.close(step, response: stored)
            }
            do {
                for try await chunk in response.body {
                    if step.timeToFirstTokenMilliseconds == nil { step.timeToFirstTokenMilliseconds = Self.milliseconds(since: started) }
                    // A stream passed on unchanged leaves before it is read: reading its events is not on its way.
                    if !strip {
                        do { try await writer.write(chunk) } catch { clientGone = true; throw error }
                    }
                    let out = scanner.feed(chunk)
                    if stored.readableBytes < maxStored { stored.writeImmutableBuffer(out.getSlice(at: out.readerIndex, length: min(out.readableBytes, maxStored - stored.readableBytes))!) }
                    guard strip, out.readableBytes > 0 else { continue }
                    do { try await writer.write(out) } catch { clientGone = true; throw error }
                }
                let tail = scanner.finish()
                if tail.readableBytes > 0 {
                    do { try await writer.write(tail) } catch { clientGone = true; throw error }
                }
            } catch {
                finish(clientGone ? "cancelled" : "incomplete")
                throw error
            }
            // Recorded once the stream's end is out: sealing the payloads does not hold it up.
            defer { finish("ok") }
            try await writer.finish(nil)
        })
    }

    // MARK: Models

    func models(request: Request) async throws -> Response {
        let principal = try await authenticator.authenticate(request)
        guard let target = try await providerTarget(principal: principal, family: .openAI) else {
            throw RungateError(HTTPResponse.Status(code: 424), code: "provider_key_missing",
                               message: "The organisation has no openai provider key configured.",
                               recovery: "An org admin can add one in the control plane (provider keys).")
        }
        var headers = HeaderFilter.upstream(request.headers)
        headers.add(name: "authorization", value: "Bearer \(target.apiKey)")  // the filter left the agent's out
        let response: UpstreamResponse, answer: ByteBuffer
        do {
            response = try await upstream.execute(.GET, url: try target.url("/models"), headers: headers, timeout: .seconds(30))
            answer = try await response.body.collect(upTo: 8 * 1024 * 1024)
        } catch {
            throw RungateError.providerFailure(error, recorded: false)
        }
        if let refused = RungateError.providerRefusedKey(answering: Int(response.status.code)) { throw refused }
        var answerHeaders = HeaderFilter.downstream(response.headers)
        answerHeaders.append(HTTPField(name: .contentLength, value: String(answer.readableBytes)))  // the filter drops the provider's
        return Response(status: .init(code: Int(response.status.code)), headers: HTTPFields(gathered: answerHeaders), body: .init(byteBuffer: answer))
    }

    // MARK: Helpers

    func collectBody(_ request: Request) async throws -> ByteBuffer {
        do {
            return try await request.body.collect(upTo: maxBodyBytes)
        } catch is NIOTooManyBytesError {
            throw RungateError(
                .contentTooLarge, code: "request_too_large", message: "The request body is larger than \(maxBodyBytes) bytes.",
                recovery: "Send a smaller request; the operator sets the limit with RUNGATE_MAX_BODY_BYTES.")
        }
    }

    /// The run named by `x-rungate-run-id`, or nil when the call starts a new run.
    func requestedRunID(_ request: Request) throws -> UUID? {
        guard let header = request.headers.value(.rungateRunID) else { return nil }
        guard let id = UUID(canonical: header.trimmedHeaderValue) else {
            throw RungateError.badRequest("x-rungate-run-id must be a UUID.", recovery: "Omit the header to start a new run, or send the id Rungate returned.")
        }
        return id
    }

    private func providerTarget(principal: AgentPrincipal, family: ProviderFamily) async throws(RungateError) -> ProviderTarget? {
        do {
            return try await providerKeys.target(orgID: principal.orgID, family: family)
        } catch is EnvelopeError {
            throw RungateError(.internalServerError, code: "provider_key_undecryptable",
                               message: "The organisation's provider key cannot be decrypted with this deployment's master key.",
                               recovery: "Operators: check RUNGATE_MASTER_KEY includes the key id the org's data key was wrapped with.")
        } catch {
            throw RungateError.dependencyUnavailable("database")
        }
    }

    private func upstreamFailure(_ error: any Error, step: StepRecord, started: ContinuousClock.Instant, runHeader: HTTPFields) -> RungateError {
        var rungateError = RungateError.providerFailure(error, recorded: true)
        let timedOut = (error as? UpstreamError)?.isTimeout ?? false
        var step = step
        step.status = timedOut ? "timeout" : "upstream_error"
        step.errorCode = rungateError.code
        step.latencyMilliseconds = milliseconds(since: started)
        steps.record(step)
        rungateError.headers.append(contentsOf: runHeader)
        return rungateError
    }

    /// The decision on an earlier approval request for this very call, as the answer to give now
    /// (nil: no live request, forward as usual).
    private func heldDecision(
        policy: ActivePolicy, principal: AgentPrincipal, run: RunHandle, fingerprint: String, runHeader: HTTPFields, streaming: Bool,
        step: StepRecord, started: ContinuousClock.Instant, refuse: (RungateError, String) -> RungateError
    ) async throws -> Response? {
        let state: ApprovalState?
        do {
            state = try await approvals.state(runID: run.id, orgID: principal.orgID, digest: fingerprint, policyVersion: run.policyVersion)
        } catch {
            throw refuse(.dependencyUnavailable("database"), "tools.require_approval")
        }
        switch state {
        case nil:
            return nil
        case .pending(let id, let rule, let proposed):
            return ApprovalGates.pendingResponse(id: id, rule: rule, policy: policy, proposed: proposed, orgID: principal.orgID, runHeader: runHeader)
        case .rejected(_, let reason):
            throw refuse(RungateError(
                .forbidden, code: "approval_rejected",
                message: "A person rejected this call\(reason.map { ": \($0)" } ?? ".")",
                recovery: "Change the plan: the same request will be refused again in this run.",
                rule: RuleMatch(rule: "tools.require_approval", policy: policy.name, policyVersion: policy.version)), "tools.require_approval")
        case .approved(let id, let held):
            guard try await approvals.consume(id) else { return nil }  // another retry took it: this one is a new call
            var approvalStep = step
            approvalStep.kind = .approval
            approvalStep.status = "approved"
            approvalStep.latencyMilliseconds = milliseconds(since: started)
            guard let held, let key = try? await dataKeys.key(id: held.keyID, orgID: principal.orgID),
                  let bytes = try? key.open(Array(buffer: held.ciphertext), purpose: .payload)
            else {
                // Approved ahead of time (tool-calls endpoint) or unreadable: nothing held, forward the call.
                steps.record(approvalStep)
                return nil
            }
            approvalStep.httpStatus = 200
            steps.record(approvalStep)
            var headers = runHeader
            // The same body asked for the same shape: a held stream is replayed as one.
            headers[.contentType] = streaming ? "text/event-stream" : "application/json"
            if streaming { headers[.cacheControl] = "no-cache" }
            headers[.rungateStatus] = "approved"
            headers[.rungateApprovalID] = id.lowercasedString
            headers[.contentLength] = String(bytes.count)
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
    }

    /// Holds a provider's answer that proposes a gated tool call and answers 202.
    private func holdForApproval(
        _ answer: ByteBuffer, rule: String, call: ProposedToolCall, policy: ActivePolicy, principal: AgentPrincipal, run: RunHandle,
        fingerprint: String, endpoint: ProviderEndpoint, runHeader: HTTPFields
    ) async throws -> Response {
        guard let key = try await dataKeys.active(orgID: principal.orgID) else {
            throw RungateError(.internalServerError, code: "data_key_missing", message: "The organisation has no data key to hold the answer with.",
                               recovery: "Report this to your operator.")
        }
        let sealed = try key.seal(Array(buffer: answer), purpose: .payload)
        try await runs.ensureWritten(run.id)  // the approval refers to it
        let request = try await approvals.request(principal: principal, runID: run.id, policy: policy, rule: rule, digest: fingerprint,
                                                  call: call, endpoint: endpoint.rawValue, held: (key.id, sealed))
        return ApprovalGates.pendingResponse(id: request.id, rule: rule, policy: policy, proposed: call.json, orgID: principal.orgID, runHeader: runHeader)
    }

    /// The request's top-level fields the proxy reads whatever the policy: the model, streaming and
    /// the output ceilings a budget reservation prices.
    static let proxyFields = Set(["model", "stream", "stream_options"] + outputCeilings)
    private static let outputCeilings = ["max_tokens", "max_completion_tokens", "max_output_tokens"]

    /// The request's top-level members — all of them with its whole tree when `whole`, else only
    /// `proxyFields` — or a 400 saying why the body is not a JSON object.
    static func parse(_ body: ByteBuffer, whole: Bool, endpoint: ProviderEndpoint) throws -> (fields: [String: JSONValue], tree: JSONValue?) {
        let fields: [String: JSONValue]?, tree: JSONValue?
        do {
            if whole {
                tree = try JSONParser.parse(body.readableBytesView)
                if case .object(let members)? = tree { fields = members } else { fields = nil }
            } else {
                tree = nil
                fields = try JSONParser.members(proxyFields, of: body.readableBytesView)
            }
        } catch {
            throw RungateError.badRequest("The request body is not valid JSON: \(error.reason).",
                                          recovery: "Send a JSON object as documented for \(endpoint.rawValue).")
        }
        guard let fields else { throw RungateError.badRequest("The request body must be a JSON object.") }
        return (fields, tree)
    }

    /// The whole request, for a policy to read: its body already passed `JSONParser.members`, which
    /// refuses what `parse` refuses.
    static func tree(of body: ByteBuffer, fields: [String: JSONValue]) -> JSONValue {
        (try? JSONParser.parse(body.readableBytesView)) ?? .object(fields)
    }

    /// The most this call can cost: its input (estimated from the body, about 4 bytes a token, which
    /// errs high for JSON) plus its output ceiling (`max_tokens` and kin, else the model's cap) at
    /// the output price.
    private func worstCaseCost(_ fields: [String: JSONValue], bodyBytes: Int, endpoint: ProviderEndpoint, model: String?, principal: AgentPrincipal) -> Int64 {
        guard let price = prices.price(orgID: principal.orgID, provider: endpoint.family.rawValue, model: model ?? "*") else { return 0 }
        let requested = Self.outputCeilings.lazy.compactMap { key -> Int? in
            if case .number(let value)? = fields[key], value >= 0, value < 1e9 { return Int(value) }
            return nil
        }.first
        let output = endpoint == .embeddings ? 0 : (requested ?? price.maxOutputTokens ?? 4096)
        return price.cost(of: TokenUsage(input: bodyBytes / 4 + 1, output: output))
    }

    private func cost(_ usage: TokenUsage, principal: AgentPrincipal, endpoint: ProviderEndpoint, model: String?) -> Int64 {
        Self.cost(usage, prices: prices, principal: principal, endpoint: endpoint, model: model)
    }

    static func cost(_ usage: TokenUsage, prices: PriceBook, principal: AgentPrincipal, endpoint: ProviderEndpoint, model: String?) -> Int64 {
        prices.price(orgID: principal.orgID, provider: endpoint.family.rawValue, model: model ?? "*")?.cost(of: usage) ?? 0
    }

    /// A model name as the step stores it: without control characters, 200 characters at most.
    static func storable(model: String) -> String {
        // Almost always already so: checked on the bytes, without rebuilding the string.
        if model.utf8.count <= 200, !model.utf8.contains(where: { $0 < 0x20 }) { return model }
        return String(model.unicodeScalars.filter { $0.value >= 0x20 }.prefix(200))
    }

    private func milliseconds(since start: ContinuousClock.Instant) -> Int { Self.milliseconds(since: start) }

    static func milliseconds(since start: ContinuousClock.Instant) -> Int {
        let elapsed = ContinuousClock.now - start
        return Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
    }
}
