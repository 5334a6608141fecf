import Common
import Foundation

/// One step of a run: a model call, a retry, a block, ... as it is written to `steps`.
public struct StepRecord: Sendable, Codable {
    /// A retry is recorded as a model call and shown as `retry` when read (`RunSteps.kindColumn`);
    /// `retry` stays so that steps spooled by earlier versions still decode.
    public enum Kind: String, Sendable, Codable { case modelCall = "model_call", toolCall = "tool_call", retry, approval, block }

    public var id = UUID.timeOrdered()
    public var orgID: UUID
    public var runID: UUID
    public var createdAt = Date()
    public var kind: Kind
    public var endpoint: String
    public var provider: String?
    public var model: String?
    /// `ok`, `upstream_error`, `timeout`, `blocked`, `cancelled`, `incomplete`, ...
    public var status: String
    public var httpStatus: Int?
    public var usage = TokenUsage()
    public var costMicros: Int64 = 0
    public var latencyMilliseconds: Int?
    public var timeToFirstTokenMilliseconds: Int?
    public var rule: String?
    public var policyVersion: Int?
    public var errorCode: String?
    public var requestFingerprint: String?
    /// Request and response bodies, encrypted under the org's data key (by the recorder, as the
    /// step leaves its queue: `StepRecorder.record(_:payload:)`).
    public var payload: SealedPayload?
    /// Events this step causes, written in the step's transaction.
    public var events: [OutboxEvent] = []
}

/// Token counts of one call. `cachedInput` is part of `input`.
public struct TokenUsage: Sendable, Equatable, Codable {
    public var input = 0
    public var output = 0
    public var cachedInput = 0
    /// True when the provider reported no usage and the counts are estimates from what was sent and delivered.
    public var estimated = false

    public init(input: Int = 0, output: Int = 0, cachedInput: Int = 0, estimated: Bool = false) {
        self.input = input
        self.output = output
        self.cachedInput = cachedInput
        self.estimated = estimated
    }
}

/// A step's payloads, sealed with the org's data key (purpose `payload`).
public struct SealedPayload: Sendable {
    public var dataKeyID: UUID
    public var request: [UInt8]
    public var response: [UInt8]?
    /// How both were encoded before sealing (nil: as sent; steps spooled by older versions).
    public var compression: PayloadCompression?
}

/// Spooled to disk as base64 (`Data`), not as arrays of numbers.
extension SealedPayload: Codable {
    enum CodingKeys: String, CodingKey { case dataKeyID, request, response, compression }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        dataKeyID = try container.decode(UUID.self, forKey: .dataKeyID)
        request = Array(try container.decode(Data.self, forKey: .request))
        response = try container.decodeIfPresent(Data.self, forKey: .response).map(Array.init)
        compression = try container.decodeIfPresent(PayloadCompression.self, forKey: .compression)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(dataKeyID, forKey: .dataKeyID)
        try container.encode(Data(request), forKey: .request)
        try container.encodeIfPresent(response.map { Data($0) }, forKey: .response)
        try container.encodeIfPresent(compression, forKey: .compression)
    }
}
