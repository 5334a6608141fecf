import Foundation

/// A run started by a call on this replica, written with the next step batch (before its steps).
public struct NewRun: Sendable, Equatable, Codable {
    public let id: UUID
    public let orgID: UUID
    public let agentID: UUID
    public let policyID: UUID?
    public let policyVersion: Int?
    public var startedAt = Date()
}

extension NewRun {
    /// Stands for "no policy" in bound arrays, which cannot hold NULL.
    static let noPolicy = UUID(canonical: "00000000-0000-0000-0000-000000000000")!
}

/// Runs waiting to be written, by id (the step queue's, a spooled chunk's while it is written).
extension Dictionary where Key == UUID, Value == NewRun {
    /// Adds `run` unless a run with its id is there already.
    mutating func add(_ run: NewRun) {
        if self[run.id] == nil { self[run.id] = run }
    }

    /// Removes the runs `steps` belong to and returns them, each once, in the order of its first step:
    /// a batch of steps goes with the runs it starts, looked up rather than found by walking every run.
    mutating func takeRuns(of steps: some Sequence<StepRecord>) -> [NewRun] {
        var taken: [NewRun] = []
        for step in steps { if let run = removeValue(forKey: step.runID) { taken.append(run) } }
        return taken
    }
}

/// What a run's totals start from when it is written with steps of its own batch.
public struct RunTotals: Sendable, Equatable {
    public var steps = 0
    public var input = 0
    public var output = 0
    public var cost: Int64 = 0
    public var last: Date?

    public init() {}

    /// The totals of each run among `steps`.
    static func of(_ steps: [StepRecord]) -> [UUID: RunTotals] {
        // Sized for a run per step (the common batch): grown from empty, it was resized ~9 times a batch.
        steps.reduce(into: Dictionary(minimumCapacity: steps.count)) { totals, step in
            totals[step.runID, default: RunTotals()].add(step)
        }
    }

    mutating func add(_ step: StepRecord) {
        steps += 1
        input += step.usage.input
        output += step.usage.output
        cost += step.costMicros
        last = max(last ?? step.createdAt, step.createdAt)
    }
}
