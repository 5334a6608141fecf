/// Why a provider call failed before its answer was complete.
enum UpstreamError: Error, Sendable, Equatable {
    /// The URL is not http(s)://host[:port]/path.
    case invalidURL
    /// A byte of the request's head may not be sent (`RequestEncoding`): a control character in a
    /// header value (a stored provider key, say), a space in the path.
    case invalidRequest
    /// No connection could be opened (refused, unreachable, DNS, TLS handshake).
    case connectFailed
    case connectTimeout
    /// The provider went silent for longer than the read timeout.
    case readTimeout
    /// The whole call took longer than the request timeout.
    case deadlineExceeded
    /// The connection closed before the answer was complete.
    case connectionClosed
    /// The connection closed before a byte of the answer arrived: on a reused connection, the
    /// provider had closed it while idle and never saw the request, which is then sent again.
    case closedBeforeAnswer
    /// The provider's answer was not valid HTTP/1.1.
    case protocolError
    /// The answer was larger than the caller accepts.
    case tooLarge
    /// The data plane is shutting down.
    case shutDown

    var isTimeout: Bool { self == .readTimeout || self == .deadlineExceeded || self == .connectTimeout }
}
