import Common

extension RungateError {
    /// What an agent is told when the provider's answer `status` refused the org's key (401/403),
    /// nil for any other: not the agent's fault, and its own token is fine, so not a 401 its SDK
    /// would take for its own credentials.
    static func providerRefusedKey(answering status: Int) -> RungateError? {
        guard status == 401 || status == 403 else { return nil }
        return RungateError(.badGateway, code: "provider_auth_failed", message: "The provider refused the organisation's provider key (\(status)).",
                            recovery: "An org admin should replace the provider key in the control plane.")
    }

    /// What an agent is told when its provider call failed before an answer came back — the one
    /// mapping for model calls and `GET /v1/models`. `recorded`: the call is a step of a run (model
    /// calls are; listing models is not), which the timeout's recovery says.
    static func providerFailure(_ error: any Error, recorded: Bool) -> RungateError {
        let upstreamError = error as? UpstreamError
        if upstreamError?.isTimeout ?? false {
            return RungateError(.gatewayTimeout, code: "provider_timeout", message: "The provider did not answer in time.",
                                recovery: recorded ? "Retry; the call was recorded and nothing was charged." : "Retry; nothing was charged.")
        }
        if upstreamError == .invalidURL || upstreamError == .invalidRequest {
            // Nothing was sent: the stored key or base URL cannot make a valid request.
            return RungateError(.badGateway, code: "provider_key_unusable",
                                message: "The organisation's provider key or its base URL holds characters that cannot be sent in an HTTP request.",
                                recovery: "An org admin should correct the provider key (its secret or base URL) in the control plane.")
        }
        return RungateError(.badGateway, code: "provider_unreachable", message: "The provider could not be reached.",
                            recovery: "Retry shortly; if it persists, an org admin should check the provider key's base URL.")
    }
}
