@testable import Common
import NIOCore
import Testing

/// Commands are RESP arrays of bulk strings, whatever the arguments were appended as.
@Suite struct RedisCommandTests {
    private func wire(_ command: RedisCommand) -> String {
        String(buffer: command.encoded())
    }

    @Test func stringsBytesAndIntegersAreBulkStrings() {
        var command = RedisCommand(capacity: 8)  // grows past its first capacity
        command.append("SET")
        command.append("key with spaces\n")
        command.append(Array("é".utf8))
        command.append(0)
        command.append(-42)
        command.append(Int64.max)
        command.append(Int64.min)
        #expect(command.count == 7)
        #expect(wire(command) == "*7\r\n$3\r\nSET\r\n$16\r\nkey with spaces\n\r\n$2\r\né\r\n$1\r\n0\r\n$3\r\n-42\r\n"
            + "$19\r\n9223372036854775807\r\n$20\r\n-9223372036854775808\r\n")
    }

    @Test func theHeaderCountsEveryArgumentAndNothingIsLeftInFront() {
        var command = RedisCommand()
        for index in 0..<12 { command.append(index) }
        let encoded = command.encoded()
        #expect(String(buffer: encoded).hasPrefix("*12\r\n$1\r\n0\r\n"))
        #expect(encoded.readableBytes == "*12\r\n".utf8.count + 10 * 7 + 2 * 8)
        #expect(wire(RedisCommand([])) == "*0\r\n")
        #expect(wire(RedisCommand(["PING"])) == "*1\r\n$4\r\nPING\r\n")
    }
}
