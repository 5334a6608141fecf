import Common
import Foundation
import NIOCore
import Testing

@Suite struct GovernanceRulesTests {
    @Test(arguments: [
        ("gpt-4o*", "gpt-4o-mini", true), ("gpt-4o*", "gpt-4", false), ("*", "anything", true), ("claude-?-opus", "claude-3-opus", true),
        ("shell.*", "shell.exec", true), ("shell.*", "myshell.exec", false), ("*-mini", "gpt-4o-mini", true), ("a*b*c", "aXXbYYc", true),
        ("a*b*c", "aXXbYY", false),
    ])
    func globsMatchLikeAShell(pattern: String, value: String, matches: Bool) throws {
        #expect(try Glob(pattern).matches(value) == matches)
    }

    @Test func aValidPolicyRoundTrips() throws {
        let json: JSONValue = [
            "models": ["allow": ["gpt-4o*"], "deny": ["o3*"]],
            "tools": ["deny": ["shell*"], "require_approval": [["tool": "delete_*", "arguments": ["env": "^prod$"]]]],
            "rate_limits": [["scope": "agent", "requests_per_minute": 60]],
            "loop_detection": ["max_repeats": 5, "window_seconds": 60],
            "content": [["name": "aws", "pattern": "AKIA[0-9A-Z]{16}", "action": "block"]],
            "max_steps_per_run": 100, "max_tokens_per_run": 100_000,
        ]
        let rules = try PolicyRules.parse(json)
        #expect(rules.tools?.requireApproval?.first?.arguments == ["env": "^prod$"])
        #expect(rules.content?.first?.appliesTo == .both)
        #expect(try PolicyRules.parse(rules.json) == rules)
    }

    @Test func everyMistakeIsListedWithItsPath() {
        let json: JSONValue = [
            "models": ["allow": "gpt-4o"], "loop_detection": ["max_repeats": 1], "content": [["name": "x", "pattern": "(", "action": "shout"]],
            "max_tokens_per_run": 1.5, "extra": true,
        ]
        #expect(throws: InvalidPolicy.self) { try PolicyRules.parse(json) }
        var paths: [String] = []
        do { _ = try PolicyRules.parse(json) } catch { paths = error.problems.map(\.path) }
        #expect(Set(paths) == ["rules.models.allow", "rules.loop_detection.max_repeats", "rules.loop_detection.window_seconds",
                               "rules.content[0].pattern", "rules.content[0].action", "rules.max_tokens_per_run", "rules.extra"])
    }

    @Test func diffsNameWhatChanged() {
        let before: JSONValue = ["a": 1, "list": ["x"], "gone": true]
        let after: JSONValue = ["a": 2, "list": ["x", "y"], "new": "z"]
        let changes = before.changes(to: after)
        #expect(changes.map(\.path) == ["a", "gone", "list[1]", "new"])
        #expect(changes.map(\.kind) == [.changed, .removed, .added, .added])
        #expect(before.changes(to: before).isEmpty)
    }

    @Test(arguments: [
        ("127.0.0.1", true), ("10.20.30.40", true), ("172.16.0.1", true), ("172.32.0.1", false), ("192.168.0.1", true),
        ("169.254.169.254", true), ("100.64.0.1", true), ("0.0.0.0", true), ("8.8.8.8", false), ("203.0.113.10", false),
        ("::1", true), ("fd00::1", true), ("fe80::1", true), ("::ffff:10.0.0.1", true), ("2001:4860:4860::8888", false),
    ])
    func internalAddressesAreRecognised(address: String, isInternal: Bool) throws {
        #expect(OutboundURLPolicy.isInternal(try SocketAddress(ipAddress: address, port: 443)) == isInternal)
    }

    @Test func budgetWindowsStartAtUTCBoundaries() throws {
        let date = try #require(ISO8601DateFormatter().date(from: "2026-11-22T22:05:00Z"))
        #expect(BudgetPeriod.day.start(of: date) == ISO8601DateFormatter().date(from: "2026-11-22T00:00:00Z"))
        #expect(BudgetPeriod.month.start(of: date) == ISO8601DateFormatter().date(from: "2026-11-01T00:00:00Z"))
        #expect(BudgetPeriod.month.end(of: date) == ISO8601DateFormatter().date(from: "2026-12-01T00:00:00Z"))
        #expect(BudgetPeriod.run.start(of: date) == nil)
    }

    /// The data plane builds counter keys from a prefix made once per budget; the control plane
    /// reads the same counters by the full form. Both must name the same key.
    @Test func budgetCounterKeysAreTheSameWhicheverWayTheyAreBuilt() throws {
        let org = try #require(UUID(canonical: "0a0b0c0d-0000-4000-8000-00000000000a"))
        let budget = try #require(UUID(canonical: "0e0f1011-0000-4000-8000-00000000000b"))
        let run = try #require(UUID(canonical: "12131415-0000-4000-8000-00000000000c"))
        let day = try #require(ISO8601DateFormatter().date(from: "2026-11-22T00:00:00Z"))
        let prefix = BudgetCounterKey.prefix(orgID: org, budgetID: budget)
        #expect(BudgetCounterKey.key(prefix: prefix, periodStart: day)
            == "rungate:{0a0b0c0d-0000-4000-8000-00000000000a}:budget:0e0f1011-0000-4000-8000-00000000000b:1795305600")
        #expect(BudgetCounterKey.key(prefix: prefix, periodStart: nil, runID: run)
            == "rungate:{0a0b0c0d-0000-4000-8000-00000000000a}:budget:0e0f1011-0000-4000-8000-00000000000b:run:12131415-0000-4000-8000-00000000000c")
        #expect(BudgetCounterKey.key(orgID: org, budgetID: budget, periodStart: day) == BudgetCounterKey.key(prefix: prefix, periodStart: day))
        #expect(BudgetCounterKey.key(orgID: org, budgetID: budget, periodStart: nil, runID: run)
            == BudgetCounterKey.key(prefix: prefix, periodStart: nil, runID: run))
    }

    /// The windows are computed by hand (no Foundation Calendar on the hot path): they must be
    /// Foundation's UTC Gregorian windows for any date — month ends, leap days, century years,
    /// December into January, the instants right at and right before a boundary, dates before 1970.
    @Test func budgetWindowsAreFoundationsGregorianUTCWindows() throws {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = try #require(TimeZone(identifier: "UTC"))
        func expected(_ period: BudgetPeriod, _ date: Date) -> (Date, Date) {
            let start = period == .day ? calendar.startOfDay(for: date) : calendar.date(from: calendar.dateComponents([.year, .month], from: date))!
            return (start, calendar.date(byAdding: period == .day ? .day : .month, value: 1, to: start)!)
        }
        var dates: [Date] = []
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<5_000 {
            dates.append(Date(timeIntervalSince1970: Double(Int64.random(in: -11_000_000_000...13_000_000_000, using: &generator))))
        }
        for (year, month) in [(1900, 2), (2000, 2), (2024, 2), (2026, 12), (2027, 1), (1969, 12), (1970, 1), (2100, 2)] {
            let first = calendar.date(from: DateComponents(year: year, month: month, day: 1))!
            dates += [first, first.addingTimeInterval(-1), first.addingTimeInterval(1), first.addingTimeInterval(-0.5)]
        }
        for date in dates {
            for period in [BudgetPeriod.day, .month] {
                let (start, end) = expected(period, date)
                #expect(period.start(of: date) == start && period.end(of: date) == end, "\(period) of \(date.timeIntervalSince1970)")
            }
        }
    }
}

@Suite struct StrictJSONTests {
    @Test func aCommaBeforeAClosingBracketIsFoundOutsideStringsOnly() {
        for bad in [#"{"a":1,}"#, "[1,2,]", "[1,\n ]", #"{"a":[1,],"b":2}"#] {
            #expect(StrictJSON.hasTrailingComma(Array(bad.utf8)), "\(bad)")
        }
        for good in [#"{"a":1}"#, "[1,2]", #"{"a":",}"}"#, #"{"a":"\",]"}"#, #"["x\\",1]"#, "[]", "{}", #"{"a":[1,{"b":2}]}"#] {
            #expect(!StrictJSON.hasTrailingComma(Array(good.utf8)), "\(good)")
        }
    }
}
