import NIOHTTP1

/// Decides for one answer whether its connection stays open, and frames the answer's head for the
/// client's HTTP version: closed for a client that asked (`Connection: close`), an answer that says
/// so, a connection that is closing anyway (graceful shutdown, an answer given before the body it
/// refuses), and HTTP/1.0 unless kept alive.
///
/// An HTTP/1.0 request (nginx's `proxy_pass` speaks it by default, as do `ab` and old load
/// balancers) is answered in HTTP/1.0: the connection stays open only when the client asked for it
/// (`Connection: keep-alive`) and the answer has a length; a body of unknown length (a stream) goes
/// unchunked, which is all a 1.0 client can read, and ends with the connection; informational
/// answers (`100 Continue`) are not sent.
struct ConnectionPersistence {
    let version: HTTPVersion
    /// The client allows the connection to stay open after this answer.
    let clientKeepsAlive: Bool

    init(_ request: HTTPRequestHead) {
        version = request.version
        clientKeepsAlive = request.isKeepAlive
    }

    var isHTTP10: Bool { version == .http1_0 }

    /// Whether the connection stays open after an answer with `fields`, and the `Connection` field
    /// its head carries instead of its own, if any.
    func decide(for fields: FramingFields, closing: Bool) -> (keepsAlive: Bool, connection: StaticString?) {
        let keepAlive = !closing && clientKeepsAlive && !fields.asksToClose && (!isHTTP10 || fields.hasLength)
        if isHTTP10 { return (keepAlive, keepAlive ? "keep-alive" : "close") }
        return (keepAlive, keepAlive ? nil : "close")
    }
}
