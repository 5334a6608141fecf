import Common
import Foundation
import Testing

/// Counter keys are written straight into one string; they must stay byte for byte the keys the
/// interpolated forms made, or counters live in Redis mid-window would be lost on upgrade.
struct RedisKeyTests {
    let org = UUID(canonical: "0a0b0c0d-0000-4000-8000-00000000000a")!
    let id = UUID(canonical: "FFEEDDCC-BBAA-4999-8888-777766665555")!

    @Test func anOrgKeyIsTheOrgsHashTagAndEachPartAfterAColon() {
        #expect(RedisKey.org(org, ["rl", "agent", .id(id), .number(29_520_311), "req"])
            == "rungate:{0a0b0c0d-0000-4000-8000-00000000000a}:rl:agent:ffeeddcc-bbaa-4999-8888-777766665555:29520311:req")
        #expect(RedisKey.org(org, ["budget", .id(id), ""])
            == "rungate:{0a0b0c0d-0000-4000-8000-00000000000a}:budget:ffeeddcc-bbaa-4999-8888-777766665555:")
        #expect(RedisKey.org(org, []) == "rungate:{0a0b0c0d-0000-4000-8000-00000000000a}")
    }

    @Test func partsAreWrittenAsTheirInterpolationsWould() {
        let numbers = [0, 7, 9, 10, 99, 100, -1, -10, 1_795_305_600, Int.max, Int.min]
        for number in numbers {
            #expect(RedisKey.concatenating("n=", .number(number), "!") == "n=\(number)!")
        }
        let texts = ["", "a", "scope:with:colons", "ünïcödé ✓", String(repeating: "x", count: 300)]
        for text in texts {
            #expect(RedisKey.org(org, [.text(text), .id(id)]) == "rungate:{\(org.lowercasedString)}:\(text):\(id.lowercasedString)")
        }
        #expect(RedisKey.concatenating(.id(id)) == id.uuidString.lowercased())
        #expect(RedisKey.concatenating() == "")
    }
}
