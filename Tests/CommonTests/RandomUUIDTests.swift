import Common
import Foundation
import Testing

@Suite struct RandomUUIDTests {
    @Test func idsAreVersion4WithTheRFCVariant() {
        for _ in 0..<1000 {
            let id = UUID.random()
            #expect(id.uuid.6 >> 4 == 4)
            #expect(id.uuid.8 >> 6 == 0b10)
            #expect(UUID(uuidString: id.uuidString) == id)
        }
    }

    @Test func idsDoNotRepeatAcrossBlocksAndThreads() async {
        // 8 tasks × 2,000 ids: many 256-id blocks, taken concurrently.
        let ids = await withTaskGroup(of: [UUID].self) { group in
            for _ in 0..<8 { group.addTask { (0..<2000).map { _ in UUID.random() } } }
            return await group.reduce(into: [UUID]()) { $0 += $1 }
        }
        #expect(ids.count == 16_000)
        #expect(Set(ids).count == 16_000)
        // Random bits: every byte position takes many values (a stuck or zeroed block would not).
        for position in [0, 3, 7, 10, 15] {
            let values = Set(ids.prefix(2000).map { withUnsafeBytes(of: $0.uuid) { $0[position] } })
            #expect(values.count > 200)
        }
    }

    @Test func timeOrderedIdsCarryTheirMillisecondThenRandomBits() {
        let at = Date(timeIntervalSince1970: 1_796_000_000.123)
        let id = UUID.timeOrdered(at: at)
        #expect(id.uuid.6 >> 4 == 7)
        #expect(id.uuid.8 >> 6 == 0b10)
        let milliseconds = withUnsafeBytes(of: id.uuid) { bytes in bytes.prefix(6).reduce(UInt64(0)) { $0 << 8 | UInt64($1) } }
        #expect(milliseconds == 1_796_000_000_123)
        // The same millisecond twice: different ids (74 random bits).
        #expect(UUID.timeOrdered(at: at) != id)
    }

    @Test func timeOrderedIdsSortByTheirTimeAsPostgreSQLComparesThem() {
        // PostgreSQL orders uuids by their bytes, the way this compares their canonical text.
        let start = Date(timeIntervalSince1970: 1_796_000_000)
        let ids = (0..<500).map { UUID.timeOrdered(at: start.addingTimeInterval(Double($0) / 100)) }
        #expect(ids.map(\.uuidString) == ids.map(\.uuidString).sorted())
        #expect(Set(ids).count == 500)
    }
}
