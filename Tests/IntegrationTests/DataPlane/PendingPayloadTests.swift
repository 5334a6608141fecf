import Common
import Foundation
@testable import DataPlane
import NIOCore
import Testing

/// A step's payload is sealed with its org's key; compressed first when it is long enough to gain.
@Suite struct PendingPayloadTests {
    let key = MasterKeyring.random().newDataKey(orgID: UUID())

    func opened(_ sealed: [UInt8]?, _ compression: PayloadCompression?) throws -> String? {
        try sealed.map { String(decoding: try PayloadCompression.plaintext(key.open($0, purpose: .payload), compression: compression), as: UTF8.self) }
    }

    @Test func aLongPayloadIsCompressedThenSealed() throws {
        let request = String(repeating: #"{"role":"user","content":"read the file again"},"#, count: 100)
        let response = #"{"choices":[{"message":{"content":"done"}}]}"#
        let payload = try #require(PendingPayload(key: key, request: ByteBuffer(string: request), response: ByteBuffer(string: response)))
        let sealed = try #require(payload.sealed())
        #expect(sealed.compression == .zstd)
        #expect(sealed.dataKeyID == key.id)
        // Sealed: nothing of the text shows; compressed: far shorter than the text.
        #expect(sealed.request.count * 4 < request.utf8.count)
        #expect(try opened(sealed.request, sealed.compression) == request)
        #expect(try opened(sealed.response, sealed.compression) == response)
    }

    @Test func aShortPayloadIsSealedAsSent() throws {
        let request = #"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say something short."}]}"#
        let payload = try #require(PendingPayload(key: key, request: ByteBuffer(string: request), response: nil))
        let sealed = try #require(payload.sealed())
        #expect(sealed.compression == nil)
        #expect(sealed.response == nil)
        #expect(try opened(sealed.request, nil) == request)
        #expect(!String(decoding: sealed.request, as: UTF8.self).contains("Say something"))
    }

    @Test func noKeyNoPayload() {
        #expect(PendingPayload(key: nil, request: ByteBuffer(string: "{}"), response: nil) == nil)
    }
}
