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
}
