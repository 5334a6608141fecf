import Common
import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// Takes steps (with the runs they start and the outbox events of the data plane) from the request
/// path and writes them in batches, off it.
///
/// `start`, `record` and `emit` only append to a buffer. A loop flushes every `interval`, in batches of `batchSize`
/// at most; a batch whose write fails stays queued and is retried with backoff, never dropped. The
/// buffer is bounded (`memoryLimitBytes`): past it — PostgreSQL away, or writing slower than calls
/// arrive — what is queued is spilled to the disk spool, and written from there once the queue in
/// memory is empty again (or at the next start after a crash). On graceful shutdown (after the HTTP
/// server has drained) everything still queued is written within `drainLimit` — what is not (PostgreSQL
/// away or hanging) is spooled, before an orchestrator's kill would lose it.
public final class StepRecorder: Service, Sendable {
    private let repository: any StepRepository
    private let logger: Logger
    private let interval: Duration
    private let batchSize: Int
    private let spool: StepSpool?
    private let memoryLimitBytes: Int
    /// While it says PostgreSQL does not answer, no write is attempted (it would wait in the pool).
    private let health: DatabaseHealth?
    private let writesFailing = Atomic<Bool>(false)
    private let queue = Mutex(Queue())
    private let observers = Mutex<[@Sendable (StepRecord) -> Void]>([])
    /// When the spool folder was last found empty (nil: not since start, or this replica spilled since).
    private let spoolFoundEmptyAt = Mutex<ContinuousClock.Instant?>(nil)
    private static let spoolRecheck = Duration.seconds(5)
    private let drainLimit: Duration
    /// Set when graceful shutdown begins: no write may outlast it, not even one already under way.
    private let drainEnds = Mutex<ContinuousClock.Instant?>(nil)

    /// `spoolDirectory`: where steps go past `memoryLimitBytes` while they cannot be written (nil:
    /// they stay in memory, unbounded). `drainLimit`: how long graceful shutdown may spend writing
    /// what is queued before spooling the rest (keep it under the orchestrator's kill timeout).
    /// `batchSize`: the most steps one transaction writes. A batch is what is queued, so this bounds
    /// only a backlog's: there, batches of 2,000 wrote ~30 % more steps a second than batches of 500
    /// on a saturated host (5,000 no more than 2,000; bench/RESULTS.md, session 35).
    public init(repository: any StepRepository, logger: Logger, interval: Duration = .milliseconds(250), batchSize: Int = 2000,
                spoolDirectory: String? = nil, memoryLimitBytes: Int = 64 << 20, health: DatabaseHealth? = nil,
                drainLimit: Duration = .seconds(10)) throws {
        self.repository = repository
        self.logger = logger
        self.interval = interval
        self.batchSize = batchSize
        self.spool = try spoolDirectory.map(StepSpool.init(directory:))
        self.memoryLimitBytes = memoryLimitBytes
        self.health = health
        self.drainLimit = drainLimit
    }

    /// Roughly what a queued step holds in memory.
    private static func footprint(_ step: StepRecord) -> Int {
        512 + (step.payload.map { $0.request.count + ($0.response?.count ?? 0) } ?? 0)
    }

    private static func footprint(_ steps: some Sequence<StepRecord>) -> Int {
        steps.reduce(0) { $0 + footprint($1) }
    }

    /// `steps` with their payloads sealed in, on the thread pool. A batch of long requests takes
    /// tens of milliseconds to compress: on one of the few cooperative threads it put 85–165 ms into
    /// the calls' p99, and yielding after each payload there left the recorder so far behind the
    /// calls under load that it spilled 20–40 % of them to disk (bench/RESULTS.md, session 20).
    /// Handed over a `SealingChunk` at a time: a whole batch in one piece held a core for ~2 ms,
    /// and a call whose loop shared that core waited for it (3.5–4.7 ms one-connection p99 against
    /// 1.2–1.7 ms without payloads; bench/RESULTS.md, session 26). A recorder catching up seals
    /// them on its own thread, at the loops' priority (`ThreadPoolWork.runOrInline`).
    private static func sealing(_ taken: Queue.Taken) async -> [StepRecord] {
        var sealed = Array(taken.steps)
        var chunk = SealingChunk()
        for (index, payload) in taken.payloads.enumerated() {
            guard let payload else { continue }
            if chunk.isFull { await chunk.seal(into: &sealed) }
            chunk.add(payload, at: index)
        }
        await chunk.seal(into: &sealed)
        return sealed
    }

    /// Payloads of a batch sealed in one hand-over to the thread pool: a few hundred microseconds
    /// of work at most, after which the pool's thread leaves the core to whatever else waits for it.
    struct SealingChunk {
        static let maximumPayloads = 32
        static let maximumBytes = 64 << 10
        private var payloads: [(index: Int, payload: PendingPayload)] = []
        private var bytes = 0

        var isFull: Bool { payloads.count >= Self.maximumPayloads || bytes >= Self.maximumBytes }

        mutating func add(_ payload: PendingPayload, at index: Int) {
            payloads.append((index, payload))
            bytes += payload.byteCount
        }

        /// Seals what the chunk holds into `steps` (at the indices they were added at) and empties it.
        mutating func seal(into steps: inout [StepRecord]) async {
            guard !payloads.isEmpty else { return }
            let taken = payloads.map(\.payload)
            let sealed = await ThreadPoolWork.runOrInline { taken.map { $0.sealed() } }
            for (entry, payload) in zip(payloads, sealed) { steps[entry.index].payload = payload }
            payloads.removeAll(keepingCapacity: true)
            bytes = 0
        }
    }

    /// Puts back, ahead of what was queued since, what could not be written or spooled.
    private func requeue(runs: [NewRun] = [], steps: [StepRecord], events: [OutboxEvent]) {
        queue.withLock { queue in
            for run in runs { queue.runs.add(run) }
            queue.steps.insert(contentsOf: steps, at: queue.steps.startIndex)
            queue.payloads.insert(contentsOf: repeatElement(nil, count: steps.count), at: queue.payloads.startIndex)  // sealed already
            queue.events.insert(contentsOf: events, at: 0)
            queue.bytes += Self.footprint(steps)
        }
    }

    /// Queues a run started by a call; it is written before any step of the same batch.
    public func start(_ run: NewRun) {
        queue.withLock { $0.runs[run.id] = run }
    }

    /// Calls `observer` with every step recorded from now on (on the caller's thread: keep it short).
    public func observe(_ observer: @escaping @Sendable (StepRecord) -> Void) {
        observers.withLock { $0.append(observer) }
    }

    /// `payload`: the step's request and response, sealed into `step.payload` once it leaves the queue.
    public func record(_ step: StepRecord, payload: PendingPayload? = nil) {
        for observer in observers.withLock({ $0 }) { observer(step) }
        let depth = queue.withLock { queue in
            queue.steps.append(step)
            queue.payloads.append(payload)
            queue.bytes += Self.footprint(step) + (payload?.byteCount ?? 0)
            return queue.steps.count
        }
        CallMetrics.observe(step)
        CallMetrics.queued.record(depth)
    }

    /// Queues an event not tied to a step (budget lines crossed, drift).
    public func emit(_ event: OutboxEvent) {
        queue.withLock { $0.events.append(event) }
    }

    /// Steps and events waiting to be written.
    public var pending: Int { queue.withLock { $0.runs.count + $0.steps.count + $0.events.count } }

    /// Runs on the background executor (the catch-up one while behind, `isBehind`): a batch taken
    /// off the queue and released is milliseconds of work, kept off the event loops that serve calls.
    public func run() async throws {
        await withTaskExecutorPreference(BackgroundExecutor.shared) {
            await withGracefulShutdownHandler {
                await writeUntilShutdown()
            } onGracefulShutdown: {
                self.drainEnds.withLock { $0 = .now + self.drainLimit }
            }
            await drain()
        }
    }

    private func writeUntilShutdown() async {
        await withTaskGroup(of: Void.self) { group in
            // The buffer's bound is kept apart from the writes: a write can wait on the pool for
            // seconds when PostgreSQL goes away, and calls go on queueing steps meanwhile. It holds
            // as well while PostgreSQL answers but writes slower than calls arrive (sustained
            // overload): past the bound, the queue goes to disk rather than grow without limit.
            group.addTask {
                while !Task.isShuttingDownGracefully, !Task.isCancelled {
                    await sleepUnlessShuttingDown(for: .milliseconds(250))
                    await self.spillIfOverLimit()
                }
            }
            var failures = 0
            while !Task.isShuttingDownGracefully, !Task.isCancelled {
                await sleepUnlessShuttingDown(for: failures == 0 ? interval : .milliseconds(min(100 << min(failures, 6), 5_000)))
                // No write is attempted while PostgreSQL does not answer: it would only wait in the pool.
                if health?.isReachable ?? true { failures = await flush(holdingFreshRuns: true) ? 0 : failures + 1 }
                writesFailing.store(failures > 0, ordering: .relaxed)
            }
            await group.waitForAll()
        }
    }

    /// The server has stopped taking requests: writes what is left until `drainLimit` runs out, then
    /// spools the rest.
    private func drain() async {
        let ends = drainEnds.withLock { $0 } ?? .now + drainLimit
        while pending > 0, health?.isReachable ?? true, ContinuousClock.now < ends {
            if !(await flush()) {
                try? await Task.sleep(for: min(.milliseconds(200), ends - .now))
            }
        }
        if pending > 0, await spill() {
            logger.warning("PostgreSQL is away: steps not written before shutdown are spooled on disk, written at the next start")
        } else if pending > 0 {
            logger.critical("steps could not be written before shutdown", metadata: ["count": "\(pending)"])
        }
    }

    /// When a write must give up: `allowance` from now, or earlier once shutdown's drain limit is set.
    private func writeDeadline(_ allowance: Duration) -> @Sendable () -> ContinuousClock.Instant {
        let ends = ContinuousClock.now + allowance
        return { min(ends, self.drainEnds.withLock { $0 } ?? ends) }
    }

    /// Moves what is queued to the disk spool when it holds more than the memory limit.
    private func spillIfOverLimit() async {
        guard spool != nil, queue.withLock({ $0.bytes }) > memoryLimitBytes else { return }
        _ = await spill()
    }

    /// Moves every queued step and event to the disk spool (with every queued run, which also stays
    /// queued: a step in memory may belong to one). False when there is no spool or writing failed.
    private func spill() async -> Bool {
        guard let spool else { return false }
        let (runs, taken, events) = queue.withLock { queue in
            defer {
                queue.events.removeAll()
                queue.bytes = 0
            }
            return (Array(queue.runs.values), queue.takeSteps(upTo: .max), queue.events)
        }
        let chunk = StepSpool.Chunk(runs: runs, steps: await Self.sealing(taken), events: events)
        do {
            try await spool.spill(chunk)
            spoolFoundEmptyAt.withLock { $0 = nil }
            CallMetrics.spooled.increment(by: chunk.steps.count)
            logger.warning("steps spooled on disk until PostgreSQL answers", metadata: ["count": "\(chunk.steps.count)", "folder": "\(spool.directory.path)"])
            return true
        } catch {
            requeue(steps: chunk.steps, events: chunk.events)
            logger.error("spooling steps on disk failed; they stay in memory", metadata: ["error": "\(error)"])
            return false
        }
    }

    /// Writes the spooled chunks, oldest first; false when a write failed (the chunk stays on disk).
    /// A folder found empty is looked at again only after `spoolRecheck` (or once this replica spilled):
    /// listing it on every 50 ms pass cost an idle data plane ~5 % of a core. Another replica sharing
    /// the folder may spill into it meanwhile, hence the look now and then.
    private func writeSpooled() async -> Bool {
        guard let spool else { return true }
        if let foundEmpty = spoolFoundEmptyAt.withLock({ $0 }), ContinuousClock.now - foundEmpty < Self.spoolRecheck { return true }
        while let (url, chunk) = await spool.oldest() {
            for batch in chunk.batches(of: batchSize) {
                do {
                    let repository = self.repository
                    try await withDeadline(until: writeDeadline(.seconds(30))) {
                        try await repository.insert(batch.steps, runs: batch.runs, events: batch.events)
                    }
                } catch {
                    logger.error("writing spooled steps failed; will retry", metadata: ["error": "\(String(reflecting: error))"])
                    return false
                }
            }
            await spool.remove(url)
            logger.notice("spooled steps written", metadata: ["count": "\(chunk.steps.count)"])
        }
        spoolFoundEmptyAt.withLock { $0 = .now }
        return true
    }

    /// Writes everything queued when called, batch by batch; false when a write failed (the batch stays queued).
    @discardableResult
    public func flush() async -> Bool {
        await flush(holdingFreshRuns: false)
    }

    /// `holdingFreshRuns`: a run without a step in the batch waits for the batch that has its first
    /// step, so it is written once with that step's totals rather than written and then updated —
    /// while the queue holds more than a batch (PostgreSQL writing slower than calls arrive), however
    /// old the run; otherwise (its call still under way, or it recorded no step) for a second at most.
    /// Behind a backlog a pass costs what its batch holds, not what waits behind it: a backlog of
    /// 100 K steps and runs was walked and hashed on every pass of 500, under the queue's lock.
    /// `now`: the time the hold is measured from (tests set it rather than wait a second).
    func flush(holdingFreshRuns: Bool, now: Date = Date()) async -> Bool {
        while true {
            let behind = isBehind
            let pass = await withTaskExecutorPreference(behind ? BackgroundExecutor.catchUp : BackgroundExecutor.shared) {
                await self.writeBatch(holdingFreshRuns: holdingFreshRuns, now: now, catchingUp: behind)
            }
            switch pass {
            case .failed: return false
            case .backlog: continue
            case .written: return await writeSpooled()
            }
        }
    }

    /// Past a quarter of its buffer, the recorder's passes run at the event loops' priority
    /// (`BackgroundExecutor.catchUp`) until it is back under: a saturated host then serves fewer
    /// calls a second rather than defer their record to disk.
    private var isBehind: Bool {
        BackgroundPriority.niceness > 0 && queue.withLock { $0.bytes } > memoryLimitBytes / 4
    }

    private enum Pass { case written, backlog, failed }

    /// Writes one batch (every queued run a step of it belongs to goes with it): `.backlog` when it
    /// was full, so more waits to be written at once. Catching up, the write — its statements
    /// encoded, its answer decoded — runs on the catch-up thread too; otherwise the statements are
    /// encoded on the thread pool and the write runs where Swift's global jobs do (the event loops:
    /// the write on the background thread cost ~5 % of the calls a second at 32 connections in
    /// hand-overs between threads; bench/RESULTS.md, session 42).
    private func writeBatch(holdingFreshRuns: Bool, now: Date, catchingUp: Bool) async -> Pass {
        let (runs, taken, events) = queue.withLock { queue -> ([NewRun], Queue.Taken, [OutboxEvent]) in
            let events = Array(queue.events.prefix(batchSize))
            queue.events.removeFirst(events.count)
            let taken = queue.takeSteps(upTo: batchSize)
            guard holdingFreshRuns else { return (queue.takeAllRuns(), taken, events) }
            var runs = queue.runs.takeRuns(of: taken.steps)
            if queue.steps.isEmpty, !queue.runs.isEmpty {
                let cutoff = now.addingTimeInterval(-1)
                let old = queue.runs.values.filter { $0.startedAt < cutoff }
                for run in old { queue.runs[run.id] = nil }
                runs += old
            }
            return (runs, taken, events)
        }
        // Sealed out of the lock: the request path queues steps meanwhile.
        let steps = await Self.sealing(taken)
        CallMetrics.queued.record(pending)
        // Memory first (the newest steps, and the runs they need), then what waited on disk.
        guard !runs.isEmpty || !steps.isEmpty || !events.isEmpty else { return .written }
        do {
            // A write stuck on a connection the database dropped is abandoned and retried:
            // batches are idempotent (a run or step already written is skipped, counted once).
            let repository = self.repository
            try await withDeadline(until: writeDeadline(.seconds(15)), on: catchingUp ? BackgroundExecutor.catchUp : nil) {
                try await repository.insert(steps, runs: runs, events: events)
            }
        } catch {
            requeue(runs: runs, steps: steps, events: events)
            logger.error("writing steps failed; will retry", metadata: ["count": "\(runs.count + steps.count + events.count)", "error": "\(String(reflecting: error))"])
            return .failed
        }
        // Only a full batch means a backlog to write at once. What arrived during this write
        // waits for the next pass: chasing it wrote a handful of steps per transaction, several
        // transactions per pass (bench/RESULTS.md, session 9).
        return steps.count < batchSize && events.count < batchSize ? .written : .backlog
    }
}

extension StepRecorder {
    /// What waits to be written. `payloads[i]`: the payload of `steps[i]` not sealed yet, if any —
    /// kept beside it rather than in a dictionary by step id, which cost every call an insert and
    /// every batch a dictionary of its own.
    struct Queue {
        /// By id: a batch takes the runs of its steps without walking the others (behind a backlog
        /// there are as many as steps when each call starts a run).
        var runs: [UUID: NewRun] = [:]
        /// Ring buffers: a batch taken off the front of a backlog does not move what stays.
        var steps = CircularBuffer<StepRecord>()
        var payloads = CircularBuffer<PendingPayload?>()
        var events: [OutboxEvent] = []
        /// Roughly what the steps and payloads hold in memory.
        var bytes = 0

        /// Every queued run, the queue left without any.
        mutating func takeAllRuns() -> [NewRun] {
            defer { runs.removeAll() }
            return Array(runs.values)
        }

        /// Steps taken off the queue, with their payloads not sealed yet (same positions).
        struct Taken {
            var steps = CircularBuffer<StepRecord>()
            var payloads = CircularBuffer<PendingPayload?>()
        }

        /// Removes the first `count` steps at most, with their payloads (and the bytes they held).
        /// Taking them all — a batch without a backlog behind it — hands over the buffers themselves:
        /// nothing is copied or released while the request path waits on the lock (2,000 steps
        /// copied held it ~0.5 ms).
        mutating func takeSteps(upTo count: Int) -> Taken {
            let count = min(count, steps.count)
            var taken = Taken()
            if count > 0, count == steps.count {
                swap(&taken.steps, &steps)
                swap(&taken.payloads, &payloads)
                // Room for a usual batch (not for the backlog a spill took) before the next grows.
                steps = CircularBuffer(initialCapacity: min(count, 2048))
                payloads = CircularBuffer(initialCapacity: min(count, 2048))
            } else {
                taken = Taken(steps: CircularBuffer(steps.prefix(count)), payloads: CircularBuffer(payloads.prefix(count)))
                steps.removeFirst(count)
                payloads.removeFirst(count)
            }
            bytes -= StepRecorder.footprint(taken.steps) + taken.payloads.reduce(0) { $0 + ($1?.byteCount ?? 0) }
            return taken
        }
    }
}
