import HTTPTypes
import NIOHTTP1
import NIOHTTPTypesHTTP1

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

    /// The head to write for `response`, and whether the connection closes after its answer.
    func head(for response: HTTPResponse, closing: Bool) -> (head: HTTPResponseHead, closesConnection: Bool) {
        var head = HTTPResponseHead(response)
        // The head comes from the HTTP types as HTTP/1.1, so NIO's `isKeepAlive` means "no `Connection: close`".
        let keepAlive = !closing && clientKeepsAlive && head.isKeepAlive && (!isHTTP10 || head.headers.contains(name: "content-length"))
        if isHTTP10 {
            head.version = .http1_0
            head.headers.replaceOrAdd(name: "connection", value: keepAlive ? "keep-alive" : "close")
        } else if !keepAlive {
            head.headers.replaceOrAdd(name: "connection", value: "close")
        }
        return (head, !keepAlive)
    }
}
