import Hummingbird
import Logging
import PostgresNIO
import _ConnectionPoolModule

/// Outermost middleware: every failure leaves as a `RungateError` in the API's own shape.
///
/// Hummingbird logs unknown errors only at debug and answers an empty 500; this logs them at
/// error level with the request id, and never puts `"\(error)"` in a response body.
public struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let shape: @Sendable (Request) -> ErrorShape

    public init(shape: @escaping @Sendable (Request) -> ErrorShape) {
        self.shape = shape
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let requestID = context.id
        do {
            var response = try await next(request, context)
            // A proxied provider's own request id is kept; Rungate's is always in x-rungate-request-id.
            if response.headers[.requestID] == nil { response.headers[.requestID] = requestID }
            response.headers[.rungateRequestID] = requestID
            return response
        } catch let error as RungateError {
            return error.response(shape: shape(request), requestID: requestID)
        } catch let error where Self.isDatabaseAway(error) {
            // The database went away mid-request: the transaction did not commit, so nothing changed.
            context.logger.error("database unavailable", metadata: ["error.code": "\((error as? PSQLError)?.code.description ?? "circuit_breaker_open")"])
            return RungateError.dependencyUnavailable("database").response(shape: shape(request), requestID: requestID)
        } catch let error as PSQLError where Self.isInputRejection(error) {
            // Postgres refused a value the API let through (a safety net, not the validation itself).
            context.logger.warning("database refused a request's value", metadata: ["sql_state": "\(error.serverInfo?[.sqlState] ?? "")"])
            return Self.inputRejection(error).response(shape: shape(request), requestID: requestID)
        } catch let error as HTTPError {
            // Framework errors (undecodable JSON, body too large, unknown route) keep their status.
            return Self.translate(status: error.status, message: error.body).response(shape: shape(request), requestID: requestID)
        } catch let error as any HTTPResponseError {
            return Self.translate(status: error.status, message: nil).response(shape: shape(request), requestID: requestID)
        } catch {
            context.logger.error("unhandled error", metadata: ["error.type": "\(type(of: error))", "error": "\(String(reflecting: error))"])
            return RungateError.internalError(requestID: requestID).response(shape: shape(request), requestID: requestID)
        }
    }

    /// The connection is gone, PostgreSQL said it is going (SQLSTATE class 57, operator
    /// intervention: `57P01` on each session a fast shutdown or restart ends, `57P03` while it
    /// starts; class 08, connection exception), or the pool stopped waiting for it (its circuit
    /// breaker, ~15 s without a connection): a request caught mid-way is told to retry, not 500.
    static func isDatabaseAway(_ error: any Error) -> Bool {
        guard let error = error as? PSQLError else { return (error as? ConnectionPoolError) == .connectionCreationCircuitBreakerTripped }
        if error.code == .server, let state = error.serverInfo?[.sqlState] { return state.hasPrefix("57") || state.hasPrefix("08") }
        return [.connectionError, .serverClosedConnection, .clientClosedConnection, .poolClosed, .uncleanShutdown].contains(error.code)
    }

    /// Unique violations (23505), check violations (23514: a value outside a column's rule, e.g. a
    /// length counted in code points) and data exceptions (class 22: bad encoding, out of range, ...).
    static func isInputRejection(_ error: PSQLError) -> Bool {
        guard error.code == .server, let state = error.serverInfo?[.sqlState] else { return false }
        return state == "23505" || state == "23514" || state.hasPrefix("22")
    }

    static func inputRejection(_ error: PSQLError) -> RungateError {
        if error.serverInfo?[.sqlState] == "23505" {
            return RungateError(.conflict, code: "conflict", message: "The request conflicts with an existing object (a name or key already in use).",
                                recovery: "Choose another name, or change the existing object instead.")
        }
        return RungateError.badRequest("A value in the request cannot be stored (invalid characters or out of range).",
                                       recovery: "Remove control characters such as NUL and keep numbers within their documented range.")
    }

    static func translate(status: HTTPResponse.Status, message: String?) -> RungateError {
        switch status {
        case .contentTooLarge:
            return RungateError(
                status, code: "request_too_large", message: "The request body is larger than this endpoint accepts.",
                recovery: "Send a smaller body; the limit is set by the operator (RUNGATE_MAX_BODY_BYTES).")
        case .notFound:
            return RungateError(status, code: "not_found", message: "No such endpoint.", recovery: "Check the method and path against the API reference.")
        case .methodNotAllowed:
            return RungateError(status, code: "method_not_allowed", message: "This endpoint does not accept that method.")
        default:
            return RungateError(status, code: code(for: status), message: message ?? "The request could not be handled (\(status.code)).",
                                recovery: status.code == 400 ? "Fix the request body (it must be valid JSON of the documented shape) and retry." : nil)
        }
    }

    static func code(for status: HTTPResponse.Status) -> String {
        switch status.code {
        case 400: "invalid_request"
        case 401: "invalid_credentials"
        case 403: "forbidden"
        case 404: "not_found"
        case 413: "request_too_large"
        case 429: "rate_limited"
        case 500...: "internal_error"
        default: "request_failed"
        }
    }
}
