/// The wire shape an error is rendered in: each API answers in its own so that clients
/// (the OpenAI and Anthropic SDKs, admin tooling) raise their normal exception types.
public enum ErrorShape: Sendable {
    /// `{"error": {"message", "type", "param", "code", "rungate": {...}}}`
    case openAI
    /// `{"type": "error", "error": {"type", "message"}, "rungate": {...}}`
    case anthropic
    /// `{"error": {"code", "message", "recovery", "request_id", "details"}}` for `/api` and `/platform`.
    case admin

    /// The shape a data-plane path speaks: Anthropic's for `/v1/messages`, OpenAI's for the rest of `/v1`.
    public static func dataPlane(path: String) -> ErrorShape {
        path.hasPrefix("/v1/messages") ? .anthropic : .openAI
    }
}
