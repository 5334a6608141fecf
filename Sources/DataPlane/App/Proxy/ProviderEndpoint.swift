import Common

/// The API family a provider key serves: OpenAI's wire format (OpenAI and compatible servers) or Anthropic's.
public enum ProviderFamily: String, Sendable {
    case openAI = "openai"
    case anthropic

    /// Stored `provider_keys.provider` values that serve this family, in preference order.
    var storedProviders: [String] {
        switch self {
        case .openAI: ["openai", "openai_compatible"]
        case .anthropic: ["anthropic"]
        }
    }

    var defaultBaseURL: String {
        switch self {
        case .openAI: "https://api.openai.com/v1"
        case .anthropic: "https://api.anthropic.com/v1"
        }
    }
}

/// A proxied model endpoint.
public enum ProviderEndpoint: String, Sendable, CaseIterable {
    case chatCompletions = "/v1/chat/completions"
    case responses = "/v1/responses"
    case embeddings = "/v1/embeddings"
    case messages = "/v1/messages"

    public var family: ProviderFamily { self == .messages ? .anthropic : .openAI }

    /// The path after the provider's base URL (which includes the version, e.g. `…/v1`).
    var upstreamPath: String {
        switch self {
        case .chatCompletions: "/chat/completions"
        case .responses: "/responses"
        case .embeddings: "/embeddings"
        case .messages: "/messages"
        }
    }
}
