import Common
@testable import DataPlane
import Foundation
import NIOCore
import Testing

/// A stream's request gains `stream_options.include_usage` by splicing, not re-encoding: the result
/// is the same JSON object plus that member, whatever the spacing of the agent's bytes.
@Suite struct UsageRequestTests {
    @Test(arguments: [
        #"{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi {\"x\"}"}]}"#,
        "  \n{ \"stream\" : true , \"model\": \"m\" }  ",
        "{}",
        "{ \t}",
    ])
    func theSplicedBodyIsTheObjectWithTheUsageRequest(_ original: String) throws {
        let spliced = try #require(UsageScanner.requestingUsage(in: ByteBuffer(string: original)))
        let parsed = try JSONParser.parse(spliced.readableBytesView)
        guard case .object(var object) = try JSONParser.parse(ByteBuffer(string: original).readableBytesView) else {
            Issue.record("not an object")
            return
        }
        object["stream_options"] = ["include_usage": true]
        #expect(parsed == .object(object))
    }

    @Test func aBodyThatIsNotAnObjectIsLeftToTheEncoder() {
        #expect(UsageScanner.requestingUsage(in: ByteBuffer(string: "[1]")) == nil)
        #expect(UsageScanner.requestingUsage(in: ByteBuffer(string: "")) == nil)
    }
}
