/// An in-process entry that lapses at its own instant, as a Redis key with a TTL does.
protocol Expiring {
    var expires: ContinuousClock.Instant { get }
}

/// In-process counters of a data plane without Redis, keyed as their Redis twins would be. A lapsed
/// entry reads as absent at once and is swept out later: once the table reaches the threshold, or
/// twice its size after the last sweep, whichever is more. So a table full of live entries is not
/// filtered again on every call, and a sweep's cost is spread over the calls that grew the table.
struct ExpiringTable<Entry: Expiring> {
    private var entries: [String: Entry] = [:]
    let sweepThreshold: Int
    private var sweepAt: Int

    init(sweepThreshold: Int) {
        self.sweepThreshold = sweepThreshold
        self.sweepAt = sweepThreshold
    }

    /// How many entries are held, lapsed ones not yet swept included.
    var count: Int { entries.count }

    /// The entry under `key`, unless it has lapsed.
    func live(_ key: String, now: ContinuousClock.Instant) -> Entry? {
        guard let entry = entries[key], entry.expires > now else { return nil }
        return entry
    }

    mutating func set(_ key: String, _ entry: Entry) {
        entries[key] = entry
    }

    mutating func sweepIfDue(now: ContinuousClock.Instant) {
        guard entries.count >= sweepAt else { return }
        entries = entries.filter { $0.value.expires > now }
        sweepAt = max(sweepThreshold, entries.count * 2)
    }
}
