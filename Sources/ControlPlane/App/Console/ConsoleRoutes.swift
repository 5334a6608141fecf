import Common
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The web console under `/`: server-rendered pages over the API (`ConsoleAPI`), for owners,
/// admins, approvers and viewers. Every read and every change is an API call made as the signed-in
/// user, and a control is shown only when the API's RBAC catalogue would allow it. Every form
/// carries a CSRF token bound to the session; pages carry a strict Content-Security-Policy (scripts
/// and styles only from this origin, nothing inline), are never framed and never cached.
struct ConsoleRoutes: Sendable {
    let api: ConsoleAPI

    init(routes: [APIRoute], guardian: RouteGuard) {
        api = ConsoleAPI(routes: routes, guardian: guardian)
    }

    func add(to router: Router<ControlRequestContext>) {
        router.get("/") { request, context in try await home(request, context) }
        router.get("/login") { request, _ in loginPage(request, error: nil, status: .ok) }
        router.post("/login") { request, context in try await login(request, context) }
        router.post("/logout") { request, context in try await logout(request, context) }
        router.get("/switch") { request, _ in
            let org = request.uri.queryParameters.get("org").flatMap(UUID.init(uuidString:))
            return Self.redirect(org.map { "/orgs/\($0.lowercasedString)/approvals" } ?? "/")
        }
        router.get("/console.js") { _, _ in Self.asset(ConsoleAssets.script, type: "text/javascript; charset=utf-8") }
        router.get("/console.css") { _, _ in Self.asset(ConsoleAssets.style, type: "text/css; charset=utf-8") }
        router.get("/orgs/:org/:page") { request, context in try await page(request, context) }
        router.get("/orgs/:org/:page/:item") { request, context in try await page(request, context) }
        // Literal segments win in the router's trie: a page with deeper paths names its item route too.
        router.get("/orgs/:org/runs") { request, context in try await page(request, context, named: "runs") }
        router.get("/orgs/:org/runs/:item") { request, context in try await page(request, context, named: "runs") }
        router.get("/favicon.ico") { _, _ in Response(status: .noContent, headers: Self.securityHeaders) }
        router.get("/orgs/:org/runs/:item/steps/:step/payload") { request, context in try await page(request, context, named: "payload") }
        router.post("/orgs/:org/act") { request, context in try await act(request, context) }
    }

    // MARK: Visits

    /// One signed-in page view: who, in which org with which role, and the CSRF token of the session.
    struct Visit: Sendable {
        let session: String
        let email: String
        let orgs: [(id: String, name: String, role: String)]
        var orgID: String?
        var role: Role?

        /// Bound to the session: a page of ours has it, another site cannot compute it.
        var csrf: String { Self.csrf(for: session) }

        static func csrf(for session: String) -> String {
            SHA256.hash(data: Data("rungate-console-csrf|\(session)".utf8)).hexString
        }

        func can(_ action: Action) -> Bool { role.map { Permissions.allows($0, action) } ?? false }
    }

    /// The visit of the request's session, or nil when there is none (or it expired).
    func visit(_ request: Request, _ context: ControlRequestContext) async -> Visit? {
        guard let session = SessionCookie.value(in: request.headers) else { return nil }
        let me = await api.call(.get, "/api/me", session: session, context: context)
        guard me.ok, let email = me.json["user"]?["email"]?.stringValue else { return nil }
        var orgs: [(id: String, name: String, role: String)] = []
        if case .array(let list)? = me.json["orgs"] {
            orgs = list.compactMap { org in
                guard let id = org["id"]?.stringValue, let name = org["name"]?.stringValue else { return nil }
                return (id, name, org["role"]?.stringValue ?? "")
            }
        }
        return Visit(session: session, email: email, orgs: orgs)
    }

    // MARK: Sign-in

    private func loginPage(_ request: Request, error: String?, status: HTTPResponse.Status, email: String = "") -> Response {
        // Before a session exists, the form's CSRF token is a random value also set as a cookie (double submit).
        let token = Data((0..<16).map { _ in UInt8.random(in: 0...255) }).hexString
        var response = Self.html(status, layout(title: "Sign in", content: ConsoleTemplates.render("login", ["csrf": token, "email": email]),
                                                 visit: nil, error: error))
        response.headers[.setCookie] = "rungate_login_csrf=\(token); Path=/login; HttpOnly; Secure; SameSite=Strict"
        return response
    }

    private func login(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let form = try await Self.form(request)
        guard let expected = SessionCookie.value(in: request.headers, named: "rungate_login_csrf"), let sent = form["csrf"],
              ConstantTime.equals(expected, sent) else {
            return loginPage(request, error: "The form expired; sign in again.", status: .forbidden)
        }
        let answer = await api.call(.post, "/api/auth/login", body: ["email": .string(form["email"] ?? ""), "password": .string(form["password"] ?? "")],
                                    session: nil, context: context)
        guard answer.ok, let cookie = answer.headers[.setCookie] else {
            return loginPage(request, error: answer.errorMessage, status: answer.status, email: form["email"] ?? "")
        }
        var response = Self.redirect("/")
        response.headers.append(HTTPField(name: .setCookie, value: cookie))
        response.headers.append(HTTPField(name: .setCookie, value: "rungate_login_csrf=; Path=/login; Max-Age=0; HttpOnly; Secure; SameSite=Strict"))
        return response
    }

    private func logout(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let form = try await Self.form(request)
        guard let visit = await visit(request, context) else { return Self.redirect("/login") }
        guard let sent = form["csrf"], ConstantTime.equals(sent, visit.csrf) else { return csrfRefused(visit) }
        _ = await api.call(.post, "/api/auth/logout", session: visit.session, context: context)
        var response = Self.redirect("/login")
        response.headers[.setCookie] = SessionCookie.clear
        return response
    }

    private func home(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        guard let visit = await visit(request, context) else { return Self.redirect("/login") }
        if visit.orgs.count == 1 { return Self.redirect("/orgs/\(visit.orgs[0].id)/approvals") }
        let rows = visit.orgs.map { org in
            ConsoleHTML.Row(cells: [.init(text: org.name, href: "/orgs/\(org.id)/approvals"), .init(text: org.role)])
        }
        return Self.html(.ok, layout(title: "Organisations", content: ConsoleHTML.table(["Organisation", "Your role"], rows,
                                                                                         empty: "You belong to no organisation yet."), visit: visit))
    }

    // MARK: Pages

    private func page(_ request: Request, _ context: ControlRequestContext, named fixed: String? = nil) async throws -> Response {
        guard var visit = await visit(request, context) else { return Self.redirect("/login") }
        let orgID = context.parameters.get("org") ?? ""
        guard let org = visit.orgs.first(where: { $0.id == orgID.lowercased() }) else {
            return Self.html(.notFound, layout(title: "Not found", content: ConsoleHTML.message("There is no such organisation, or you are not in it.",
                                                                                                link: ("Your organisations", "/")), visit: visit))
        }
        visit.orgID = org.id
        visit.role = Role(rawValue: org.role)
        let name = fixed ?? context.parameters.get("page") ?? ""
        let pages = ConsolePages(api: api, visit: visit, context: context, query: request.uri.queryParameters)
        guard let rendered = await pages.render(name, item: context.parameters.get("item"), step: context.parameters.get("step")) else {
            return Self.html(.notFound, layout(title: "Not found", content: ConsoleHTML.message("There is no such page."), visit: visit))
        }
        // Live regions fetch only their own HTML.
        if request.uri.queryParameters.get("fragment") != nil {
            return Self.html(rendered.status, rendered.content)
        }
        return Self.html(rendered.status, layout(title: rendered.title, content: rendered.content, visit: visit, active: name,
                                                 flash: request.uri.queryParameters.get("done"), error: rendered.error))
    }

    /// A change from a console form: checked against the session's CSRF token, then made as an API
    /// call (`_method` `_path`) with the form's other fields as its JSON body, typed by the route's schema.
    private func act(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let form = try await Self.form(request)
        guard var visit = await visit(request, context) else { return Self.redirect("/login") }
        guard let sent = form["csrf"], ConstantTime.equals(sent, visit.csrf) else { return csrfRefused(visit) }
        let orgID = (context.parameters.get("org") ?? "").lowercased()
        visit.orgID = orgID
        visit.role = visit.orgs.first { $0.id == orgID }.flatMap { Role(rawValue: $0.role) }
        let method = HTTPRequest.Method(form["_method"] ?? "") ?? .post
        let path = form["_path"] ?? ""
        let back = Self.safeBack(form["_back"], orgID: orgID)
        guard [.post, .patch, .put, .delete].contains(method), path.hasPrefix("/api/orgs/\(orgID)/"),
              let (route, _) = ConsoleAPI.match(method, path, in: api.routes) else {
            return Self.html(.badRequest, layout(title: "Not done", content: ConsoleHTML.message("That action does not exist.", link: ("Back", back)),
                                                 visit: visit))
        }
        let body = Self.body(from: form, schema: route.requestBody)
        let answer = await api.call(method, path, body: body, session: visit.session, context: context)
        guard answer.ok else {
            return Self.html(answer.status, layout(title: "Not done", content: ConsoleHTML.message(answer.errorMessage, link: ("Back", back)),
                                                   visit: visit, error: nil))
        }
        // A secret shown once (an agent or admin token, a webhook secret, an invitation).
        if let secret = answer.json["token"]?.stringValue ?? answer.json["secret"]?.stringValue ?? answer.json["token"]?["value"]?.stringValue {
            let content = ConsoleTemplates.render("secret", ["message": route.summary, "secret": secret, "back": back,
                                                             "sealed": answer.json["secret"] != nil])
            return Self.html(.ok, layout(title: "Copy it now", content: content, visit: visit))
        }
        return Self.redirect(back + (back.contains("?") ? "&" : "?") + "done=" + (route.summary.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "done"))
    }

    private func csrfRefused(_ visit: Visit) -> Response {
        Self.html(.forbidden, layout(title: "Not done", content: ConsoleHTML.message(
            "This form is missing its security token or it is stale. Reload the page and try again.", link: ("Home", "/")), visit: visit))
    }

    // MARK: Layout and responses

    func layout(title: String, content: String, visit: Visit?, active: String? = nil, flash: String? = nil, error: String? = nil) -> String {
        var object = ConsoleHTML.compact(["title": title, "content": content, "flash": flash, "error": error])
        if let visit {
            object["email"] = visit.email
            object["csrf"] = visit.csrf
            if let role = visit.role { object["role"] = role.rawValue }
            object["hasOrgs"] = visit.orgID != nil && visit.orgs.count > 1
            object["orgs"] = visit.orgs.map { ["id": $0.id, "name": $0.name, "current": $0.id == visit.orgID] as [String: Any] }
            if let orgID = visit.orgID {
                let nav = ConsolePages.navigation.filter { visit.can($0.action) }
                object["hasNav"] = true
                object["nav"] = nav.map { ["href": "/orgs/\(orgID)/\($0.page)", "label": $0.label, "active": $0.page == active] as [String: Any] }
            }
        }
        return ConsoleTemplates.render("layout", object)
    }

    static func html(_ status: HTTPResponse.Status, _ html: String) -> Response {
        var headers = securityHeaders
        headers[.contentType] = "text/html; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    static func redirect(_ location: String) -> Response {
        var headers = securityHeaders
        headers[.location] = location
        return Response(status: .seeOther, headers: headers)
    }

    static func asset(_ text: String, type: String) -> Response {
        var headers = securityHeaders
        headers[.contentType] = type
        headers[.cacheControl] = "no-cache"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static let securityHeaders: HTTPFields = {
        var headers = HTTPFields()
        headers[.contentSecurityPolicy] = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
            + "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        headers[.xFrameOptions] = "DENY"
        headers[.referrerPolicy] = "same-origin"
        headers[.xContentTypeOptions] = "nosniff"
        headers[.cacheControl] = "no-store"
        return headers
    }()

    /// Where to go after an action: a console page of the same org, never elsewhere.
    static func safeBack(_ back: String?, orgID: String) -> String {
        guard let back, back.hasPrefix("/orgs/\(orgID)/"), !back.contains("//"), !back.contains("\\") else { return "/orgs/\(orgID)/approvals" }
        return back
    }

    // MARK: Forms

    /// A form post's fields (`application/x-www-form-urlencoded`, at most 256 KiB).
    static func form(_ request: Request) async throws -> [String: String] {
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: 256 * 1024)
        } catch {
            throw RungateError(.contentTooLarge, code: "request_too_large", message: "The form is larger than 256 KiB.")
        }
        var fields: [String: String] = [:]
        for pair in String(buffer: body).split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                .map { $0.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? "" }
            if parts.count == 2 { fields[parts[0]] = parts[1] }
        }
        return fields
    }

    /// The JSON body an API route expects, from form fields: each property of the route's schema
    /// that the form filled, typed as the schema says (numbers, booleans, lists, JSON objects).
    static func body(from form: [String: String], schema: JSONValue?) -> JSONValue? {
        guard case .object(let properties)? = schema?["properties"] else { return nil }
        var body: [String: JSONValue] = [:]
        for (name, property) in properties {
            guard let raw = form[name] else { continue }
            let text = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            let type = property["type"]?.stringValue ?? property["anyOf"]?[0]?["type"]?.stringValue ?? "string"
            if text.isEmpty {
                if property["anyOf"] != nil, form["_clear_\(name)"] != nil { body[name] = .null }
                continue
            }
            switch type {
            case "integer", "number": body[name] = Double(text).map { .number($0) } ?? .string(text)
            case "boolean": body[name] = .bool(["true", "on", "yes", "1"].contains(text.lowercased()))
            case "array": body[name] = .array(text.split(whereSeparator: { $0 == "," || $0 == "\n" })
                .map { .string($0.trimmingCharacters(in: .whitespacesAndNewlines)) }.filter { $0 != "" })
            case "object": body[name] = JSONValue.parse(text) ?? .string(text)
            default: body[name] = .string(text)
            }
        }
        return .object(body)
    }
}
