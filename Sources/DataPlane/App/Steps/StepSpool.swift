import Common
import Foundation
import Logging

/// Steps that could not be written (PostgreSQL away) past the memory buffer, kept on disk until
/// they are: one file per spilled chunk, written whole under a temporary name and then renamed, so a
/// file is either complete or absent. Files are read back oldest first, and again at start-up
/// (a crash loses nothing spilled). Writing a chunk twice is harmless — step batches are idempotent
/// — so replicas may share the folder. File I/O runs on NIO's blocking-I/O thread pool: Swift
/// concurrency's jobs run on the event loops, which must not wait on the disk.
struct StepSpool: Sendable {
    struct Chunk: Codable, Sendable {
        var runs: [NewRun]
        var steps: [StepRecord]
        var events: [OutboxEvent]

        /// One write of a chunk read back.
        struct Batch {
            var runs: [NewRun]
            var steps: [StepRecord]
            var events: [OutboxEvent]
        }

        /// The chunk as batches of at most `size` steps, each with the runs whose first steps it
        /// holds (a run is written with them, once); the first also carries the events and the runs
        /// no step of the chunk belongs to. Every batch carrying all the chunk's runs made each one
        /// probe them all again: a chunk of 75 K steps and runs drained at ~1,500 steps a second.
        func batches(of size: Int) -> [Batch] {
            var byID: [UUID: NewRun] = [:]
            byID.reserveCapacity(runs.count)
            for run in runs { byID.add(run) }
            var batches: [Batch] = []
            var start = 0
            repeat {
                let steps = Array(self.steps[start..<min(start + size, self.steps.count)])
                batches.append(Batch(runs: byID.takeRuns(of: steps), steps: steps, events: start == 0 ? events : []))
                start += size
            } while start < steps.count
            // Kept in the chunk's order; any left belong to no step here.
            let unstepped = self.runs.filter { byID.removeValue(forKey: $0.id) != nil }
            batches[0].runs.insert(contentsOf: unstepped, at: 0)
            return batches
        }
    }

    let directory: URL

    init(directory: String) throws {
        self.directory = URL(fileURLWithPath: directory, isDirectory: true)
        do {
            try FileManager.default.createDirectory(at: self.directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
            guard FileManager.default.isWritableFile(atPath: self.directory.path) else { throw CocoaError(.fileWriteNoPermission) }
        } catch {
            throw ConfigurationError("RUNGATE_SPOOL_DIR: cannot use \(self.directory.path) for the step spool (\(error.localizedDescription)); "
                                     + "point it at a writable folder, or set it to `none` to keep unwritten steps in memory only")
        }
    }

    func spill(_ chunk: Chunk) async throws {
        try await ThreadPoolWork.run { try self.spillNow(chunk) }
    }

    private func spillNow(_ chunk: Chunk) throws {
        let name = String(format: "steps-%020llu-%@.json", UInt64(Date().timeIntervalSince1970 * 1_000_000), UUID().lowercasedString)
        let temporary = directory.appendingPathComponent(name + ".partial")
        try JSONEncoder().encode(chunk).write(to: temporary)
        try FileManager.default.moveItem(at: temporary, to: directory.appendingPathComponent(name))
    }

    /// The oldest complete chunk on disk, if any.
    func oldest() async -> (url: URL, chunk: Chunk)? {
        try? await ThreadPoolWork.run { self.oldestNow() }
    }

    private func oldestNow() -> (url: URL, chunk: Chunk)? {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        for name in names.filter({ $0.hasPrefix("steps-") && $0.hasSuffix(".json") }).sorted() {
            let url = directory.appendingPathComponent(name)
            // Another replica sharing the folder may have written and removed it meanwhile.
            guard let data = try? Data(contentsOf: url), let chunk = try? JSONDecoder().decode(Chunk.self, from: data) else { continue }
            return (url, chunk)
        }
        return nil
    }

    func remove(_ url: URL) async {
        _ = try? await ThreadPoolWork.run { try FileManager.default.removeItem(at: url) }
    }
}
