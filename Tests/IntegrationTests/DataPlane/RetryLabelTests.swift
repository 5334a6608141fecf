import Common
@testable import DataPlane
import Foundation
import TestSupport
import Testing

/// A retry is labelled when the run's steps are read (`RunSteps.kindColumn`), from the steps the
/// data plane stored as model calls: against the real database, as the data plane's role reads them.
@Suite struct RetryLabelTests {
    @Test func aModelCallRepeatingTheRunsLastFailedAttemptOfTheSameBodyIsShownAsARetry() async throws {
        try await OrgFixture.withDataPlaneRole { _, _, fixture, data in
            let repository = PostgresStepRepository(database: data)
            let run = NewRun(id: UUID(), orgID: fixture.orgID, agentID: fixture.resources.agentID, policyID: nil, policyVersion: nil)
            let other = NewRun(id: UUID(), orgID: fixture.orgID, agentID: fixture.resources.agentID, policyID: nil, policyVersion: nil)
            let start = Date()
            var steps: [StepRecord] = []
            func step(_ run: NewRun, _ body: String?, _ status: String, kind: StepRecord.Kind = .modelCall) {
                var step = StepRecord(orgID: fixture.orgID, runID: run.id, kind: kind, endpoint: "/v1/chat/completions",
                                      status: status, requestFingerprint: body)
                step.createdAt = start.addingTimeInterval(Double(steps.count))
                steps.append(step)
            }
            // (body, status, kind, the kind a reader must see)
            let expected: [(String?, String, StepRecord.Kind, String)] = [
                ("a", "upstream_error", .modelCall, "model_call"),
                ("b", "ok", .modelCall, "model_call"),
                ("a", "ok", .modelCall, "retry"),            // another call in between does not matter
                ("a", "ok", .modelCall, "model_call"),       // the same body after a success is a new call
                ("c", "timeout", .modelCall, "model_call"),
                ("c", "blocked", .block, "block"),           // a refusal is not an attempt that reached the provider
                ("c", "incomplete", .modelCall, "retry"),    // a retry that failed too...
                ("c", "ok", .modelCall, "retry"),            // ...is retried again
                ("d", "cancelled", .modelCall, "model_call"), // the agent hung up: not a failure
                ("d", "ok", .modelCall, "model_call"),
                (nil, "upstream_error", .modelCall, "model_call"),
                (nil, "ok", .modelCall, "model_call"),        // no body to compare: never a retry
                ("e", "ok", .modelCall, "model_call"),        // "e" failed in the other run only
                ("f", "upstream_error", .retry, "retry"),     // stored as `retry` by an earlier version
            ]
            step(other, "e", "upstream_error")
            for (body, status, kind, _) in expected { step(run, body, status, kind: kind) }
            // Written in two batches, newest first: the label follows the calls' order, not the rows'.
            try await repository.insert(Array(steps[8...]), runs: [run, other], events: [])
            try await repository.insert(Array(steps[..<8]), runs: [], events: [])

            let shown = try await repository.steps(runID: run.id, orgID: fixture.orgID)
            #expect(shown.map { $0["id"]?.stringValue } == steps.dropFirst().map { $0.id.lowercasedString })
            #expect(shown.map { $0["kind"]?.stringValue ?? "" } == expected.map(\.3))
            let otherShown = try await repository.steps(runID: other.id, orgID: fixture.orgID)
            #expect(otherShown.map { $0["kind"]?.stringValue } == ["model_call"])
        }
    }
}
