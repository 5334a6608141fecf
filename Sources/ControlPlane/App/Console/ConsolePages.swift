import Common
import Foundation
import HTTPTypes
import Hummingbird

/// The console's org pages. Each reads through the API as the visitor, and offers a control only
/// when the visitor's role allows the API route it calls (`action`), so no button appears that the
/// server would refuse.
struct ConsolePages: Sendable {
    typealias Field = ConsoleHTML.Field
    typealias Row = ConsoleHTML.Row
    typealias Cell = ConsoleHTML.Cell

    let api: ConsoleAPI
    let visit: ConsoleRoutes.Visit
    let context: ControlRequestContext
    let query: Parameters

    struct Rendered {
        var title: String
        var content: String
        var status: HTTPResponse.Status = .ok
        var error: String?
    }

    static let navigation: [(page: String, label: String, action: Action)] = [
        ("approvals", "Approvals", .approvalsRead), ("runs", "Runs", .runsRead), ("spend", "Spend", .analyticsRead),
        ("agents", "Agents", .agentsRead), ("policies", "Policies", .policiesRead), ("budgets", "Budgets", .budgetsRead),
        ("provider-keys", "Provider keys", .providerKeysRead), ("webhooks", "Webhooks", .webhooksRead),
        ("members", "Members", .membersRead), ("audit-log", "Audit log", .auditRead), ("settings", "Settings", .settingsRead),
    ]

    var org: String { visit.orgID ?? "" }
    var base: String { "/api/orgs/\(org)" }

    func render(_ page: String, item: String?, step: String?) async -> Rendered? {
        guard let entry = Self.navigation.first(where: { $0.page == page }) ?? (page == "payload" ? ("payload", "", .payloadsRead) : nil) else { return nil }
        guard visit.can(entry.action) else {
            return Rendered(title: "Not allowed", content: ConsoleHTML.message("Your role does not allow this page."), status: .forbidden)
        }
        switch (page, item) {
        case ("approvals", _): return await approvals()
        case ("runs", nil): return await runs()
        case ("runs", let id?): return await run(id)
        case ("payload", let id?): return await payload(run: id, step: step ?? "")
        case ("spend", _): return await spend()
        case ("agents", nil): return await agents()
        case ("agents", let id?): return await agent(id)
        case ("policies", nil): return await policies()
        case ("policies", let id?): return await policy(id)
        case ("budgets", _): return await budgets()
        case ("provider-keys", _): return await providerKeys()
        case ("webhooks", nil): return await webhooks()
        case ("webhooks", let id?): return await webhook(id)
        case ("members", _): return await members()
        case ("audit-log", _): return await auditLog()
        case ("settings", _): return await settings()
        default: return nil
        }
    }

    // MARK: Helpers

    func get(_ path: String) async -> ConsoleAPI.Answer {
        await api.call(.get, path, session: visit.session, context: context)
    }

    func list(_ answer: ConsoleAPI.Answer) -> [JSONValue] {
        if case .array(let items)? = answer.json["data"] { return items }
        return []
    }

    /// A form that makes one API call — only when the visitor's role allows that route.
    func action(_ method: HTTPRequest.Method, _ path: String, _ submit: String, fields: [Field] = [], back: String,
                danger: Bool = false, inline: Bool = true) -> String {
        guard let (route, _) = ConsoleAPI.match(method, path, in: api.routes), case .org(let action) = route.access, visit.can(action) else { return "" }
        return ConsoleHTML.form(action: "/orgs/\(org)/act", csrf: visit.csrf, fields: fields,
                                hidden: ["_method": method.rawValue, "_path": path, "_back": back], submit: submit, danger: danger, inline: inline)
    }

    /// A list page: the table, then the form that adds to it (when the visitor may).
    func listing(_ title: String, _ columns: [String], _ rows: [Row], empty: String, create: String, heading: String) -> Rendered {
        Rendered(title: title, content: ConsoleHTML.table(columns, rows, empty: empty) + (create.isEmpty ? "" : ConsoleHTML.section(heading, create)))
    }

    func failed(_ title: String, _ answer: ConsoleAPI.Answer) -> Rendered {
        Rendered(title: title, content: "", status: answer.status, error: answer.errorMessage)
    }

    func query(_ name: String) -> String? { query.get(name).flatMap { $0.isEmpty ? nil : $0 } }

    static func encoded(_ text: String) -> String { text.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "" }

    // MARK: Approvals

    func approvals() async -> Rendered {
        let page = "/orgs/\(org)/approvals"
        let pending = await get("\(base)/approvals?status=pending&limit=50")
        guard pending.ok else { return failed("Approvals", pending) }
        var rows: [Row] = []
        for approval in list(pending) {
            let id = approval["id"]?.stringValue ?? "", runID = approval["run_id"]?.stringValue ?? ""
            let run = await get("\(base)/runs/\(runID)")
            let decide = action(.post, "\(base)/approvals/\(id)/approve", "Approve", fields: [Field(name: "reason", label: "Reason")], back: page)
                + action(.post, "\(base)/approvals/\(id)/reject", "Reject", fields: [Field(name: "reason", label: "Reason", required: true)],
                         back: page, danger: true)
            rows.append(Row(cells: [
                Cell(text: approval["proposed_action"]?["tool"]?.stringValue ?? "", code: true),
                Cell(text: ConsoleHTML.pretty(approval["proposed_action"]?["arguments"] ?? .null), code: true),
                Cell(text: approval["rule"]?.stringValue ?? ""),
                Cell(text: ConsoleHTML.shortID(runID), href: "/orgs/\(org)/runs/\(runID)"),
                Cell(text: run.ok ? "\(ConsoleHTML.usd(run.json["cost_micros"])) · \(ConsoleHTML.text(run.json["step_count"])) steps" : ""),
                Cell(text: ConsoleHTML.time(approval["expires_at"])),
            ], actions: decide))
        }
        let recent = list(await get("\(base)/approvals?limit=20")).filter { $0["status"]?.stringValue != "pending" }.map { approval in
            Row(cells: [
                Cell(text: approval["proposed_action"]?["tool"]?.stringValue ?? "", code: true), Cell(text: approval["status"]?.stringValue ?? ""),
                Cell(text: approval["reason"]?.stringValue ?? ""), Cell(text: ConsoleHTML.time(approval["decided_at"] ?? approval["created_at"])),
                Cell(text: ConsoleHTML.shortID(approval["run_id"]?.stringValue ?? ""), href: "/orgs/\(org)/runs/\(approval["run_id"]?.stringValue ?? "")"),
            ])
        }
        let content = ConsoleHTML.section("Waiting for a decision", ConsoleHTML.table(
            ["Tool", "Arguments", "Rule", "Run", "Run so far", "Expires"], rows, empty: "Nothing is waiting for a decision."), id: "pending")
            + ConsoleHTML.section("Recently decided", ConsoleHTML.table(["Tool", "Decision", "Reason", "When", "Run"], recent, empty: "No decisions yet."))
        return Rendered(title: "Approvals", content: live(content, "\(page)?fragment=1"))
    }

    /// Content the page's script refreshes every few seconds (unless the visitor is typing in it).
    func live(_ content: String, _ url: String) -> String {
        query("fragment") != nil ? content : ConsoleHTML.section(nil, content, id: "live", live: url)
    }

    // MARK: Runs

    func runs() async -> Rendered {
        var path = "\(base)/runs?limit=50"
        if let status = query("status") { path += "&status=\(Self.encoded(status))" }
        if let agent = query("agent_id") { path += "&agent_id=\(Self.encoded(agent))" }
        let answer = await get(path)
        guard answer.ok else { return failed("Runs", answer) }
        let filters = ConsoleHTML.form(action: "/orgs/\(org)/runs", method: .get, csrf: "", fields: [
            Field(name: "status", label: "Status", kind: .select([("", "any"), ("running", "running"), ("ended", "ended"), ("cancelled", "cancelled")]),
                  value: query("status") ?? ""),
            Field(name: "agent_id", label: "Agent id", value: query("agent_id") ?? ""),
        ], submit: "Filter", inline: true)
        let rows = list(answer).map { run in
            let id = run["id"]?.stringValue ?? ""
            return Row(cells: [
                Cell(text: id, href: "/orgs/\(org)/runs/\(id)", code: true), Cell(text: run["status"]?.stringValue ?? ""),
                Cell(text: ConsoleHTML.shortID(run["agent_id"]?.stringValue ?? ""), code: true), Cell(text: ConsoleHTML.text(run["step_count"])),
                Cell(text: "\(ConsoleHTML.text(run["input_tokens"])) / \(ConsoleHTML.text(run["output_tokens"]))"),
                Cell(text: ConsoleHTML.usd(run["cost_micros"])), Cell(text: ConsoleHTML.time(run["started_at"])),
            ])
        }
        return Rendered(title: "Runs", content: filters + ConsoleHTML.table(["Run", "Status", "Agent", "Steps", "Tokens in / out", "Cost", "Started"],
                                                                            rows, empty: "No runs match."))
    }

    func run(_ id: String) async -> Rendered {
        let page = "/orgs/\(org)/runs/\(id)"
        let run = await get("\(base)/runs/\(id)")
        guard run.ok else { return failed("Run", run) }
        let steps = list(await get("\(base)/runs/\(id)/steps"))
        let canPayloads = visit.can(.payloadsRead)
        let rows = steps.enumerated().map { index, step in
            let stepID = step["id"]?.stringValue ?? ""
            return Row(cells: [
                Cell(text: String(index + 1)), Cell(text: ConsoleHTML.time(step["created_at"])), Cell(text: step["kind"]?.stringValue ?? ""),
                Cell(text: step["model"]?.stringValue ?? ""), Cell(text: step["status"]?.stringValue ?? ""), Cell(text: step["rule"]?.stringValue ?? ""),
                Cell(text: "\(ConsoleHTML.text(step["usage"]?["input_tokens"])) / \(ConsoleHTML.text(step["usage"]?["output_tokens"]))"),
                Cell(text: ConsoleHTML.usd(step["cost_micros"])), Cell(text: step["latency_ms"].map { "\(ConsoleHTML.text($0)) ms" } ?? ""),
                Cell(text: canPayloads ? "payload" : "", href: canPayloads ? "\(page)/steps/\(stepID)/payload" : nil),
            ])
        }
        let summary = ConsoleHTML.table(["Status", "Agent", "Policy version", "Steps", "Tokens in / out", "Cost", "Started", "Ended"], [Row(cells: [
            Cell(text: run.json["status"]?.stringValue ?? ""), Cell(text: run.json["agent_id"]?.stringValue ?? "", code: true),
            Cell(text: ConsoleHTML.text(run.json["policy"])), Cell(text: ConsoleHTML.text(run.json["step_count"])),
            Cell(text: "\(ConsoleHTML.text(run.json["input_tokens"])) / \(ConsoleHTML.text(run.json["output_tokens"]))"),
            Cell(text: ConsoleHTML.usd(run.json["cost_micros"])), Cell(text: ConsoleHTML.time(run.json["started_at"])),
            Cell(text: ConsoleHTML.time(run.json["ended_at"])),
        ])], empty: "")
        let running = run.json["status"] == "running"
        let cancel = running ? action(.post, "\(base)/runs/\(id)/cancel", "Cancel the run", back: page, danger: true) : ""
        let artifacts = list(await get("\(base)/runs/\(id)/artifacts")).map { artifact in
            Row(cells: [Cell(text: artifact["name"]?.stringValue ?? ""), Cell(text: artifact["media_type"]?.stringValue ?? ""),
                        Cell(text: ConsoleHTML.text(artifact["size_bytes"])), Cell(text: ConsoleHTML.time(artifact["created_at"]))])
        }
        var content = summary + cancel + ConsoleHTML.section("Steps", ConsoleHTML.table(
            ["#", "When", "Kind", "Model", "Status", "Rule", "Tokens in / out", "Cost", "Latency", ""], rows, empty: "No steps yet."))
        if !artifacts.isEmpty {
            content += ConsoleHTML.section("Artifacts", ConsoleHTML.table(["Name", "Type", "Bytes", "Added"], artifacts, empty: ""))
        }
        return Rendered(title: "Run \(ConsoleHTML.shortID(id))", content: running ? live(content, "\(page)?fragment=1") : content)
    }

    func payload(run: String, step: String) async -> Rendered {
        let answer = await get("\(base)/runs/\(run)/steps/\(step)/payload")
        guard answer.ok else { return failed("Payload", answer) }
        let content = ConsoleHTML.message("Step of run", link: (ConsoleHTML.shortID(run), "/orgs/\(org)/runs/\(run)"))
            + ConsoleHTML.section("Request", ConsoleHTML.pre(ConsoleHTML.pretty(answer.json["request"] ?? .null)))
            + ConsoleHTML.section("Response", ConsoleHTML.pre(ConsoleHTML.pretty(answer.json["response"] ?? .null)))
        return Rendered(title: "Payload", content: content)
    }

    // MARK: Spend

    func spend() async -> Rendered {
        let groupBy = ["agent", "model", "team", "day"].contains(query("group_by") ?? "") ? query("group_by")! : "day"
        let answer = await get("\(base)/analytics/spend?group_by=\(groupBy)")
        guard answer.ok else { return failed("Spend", answer) }
        let budgets = visit.can(.budgetsRead) ? list(await get("\(base)/budgets")) : []
        let groups = list(answer)
        let chart = SpendChart.svg(groups: groups, groupBy: groupBy, budgets: budgets)
        let picker = ConsoleHTML.form(action: "/orgs/\(org)/spend", method: .get, csrf: "", fields: [
            Field(name: "group_by", label: "By", kind: .select([("day", "day"), ("agent", "agent"), ("model", "model"), ("team", "team")]), value: groupBy),
        ], submit: "Show", inline: true)
        let rows = groups.map { group in
            Row(cells: [Cell(text: SpendChart.label(group, groupBy: groupBy)), Cell(text: ConsoleHTML.usd(group["cost_micros"])),
                        Cell(text: ConsoleHTML.text(group["steps"])),
                        Cell(text: "\(ConsoleHTML.text(group["input_tokens"])) / \(ConsoleHTML.text(group["output_tokens"]))")])
        }
        return Rendered(title: "Spend", content: picker + chart + ConsoleHTML.table([groupBy.capitalized, "Cost", "Steps", "Tokens in / out"], rows,
                                                                                  empty: "No spend in the last 30 days."))
    }

    // MARK: Agents

    func agents() async -> Rendered {
        let page = "/orgs/\(org)/agents"
        let answer = await get("\(base)/agents")
        guard answer.ok else { return failed("Agents", answer) }
        let rows = list(answer).map { agent in
            let id = agent["id"]?.stringValue ?? ""
            return Row(cells: [Cell(text: agent["name"]?.stringValue ?? "", href: "\(page)/\(id)"), Cell(text: agent["policy"]?.stringValue ?? "—"),
                               Cell(text: agent["status"]?.stringValue ?? ""), Cell(text: ConsoleHTML.time(agent["created_at"]))])
        }
        let create = action(.post, "\(base)/agents", "Create agent", fields: [
            Field(name: "name", label: "Name", required: true), Field(name: "policy", label: "Policy (name@version)", placeholder: "support@1"),
            Field(name: "description", label: "Description"),
        ], back: page, inline: false)
        return listing("Agents", ["Agent", "Policy", "Status", "Created"], rows, empty: "No agents yet.", create: create, heading: "New agent")
    }

    func agent(_ id: String) async -> Rendered {
        let page = "/orgs/\(org)/agents/\(id)"
        let agent = await get("\(base)/agents/\(id)")
        guard agent.ok else { return failed("Agent", agent) }
        let tokens = visit.can(.tokensRead) ? list(await get("\(base)/agents/\(id)/tokens")) : []
        let rows = tokens.map { token in
            let tokenID = token["id"]?.stringValue ?? ""
            let revoked = token["revoked_at"].map { $0 != .null } ?? false
            return Row(cells: [
                Cell(text: token["display_prefix"]?.stringValue ?? "", code: true), Cell(text: token["name"]?.stringValue ?? ""),
                Cell(text: ConsoleHTML.time(token["created_at"])), Cell(text: ConsoleHTML.time(token["last_used_at"])),
                Cell(text: revoked ? "revoked" : ConsoleHTML.time(token["expires_at"]).isEmpty ? "active" : "expires \(ConsoleHTML.time(token["expires_at"]))"),
            ], actions: revoked ? "" : action(.delete, "\(base)/agents/\(id)/tokens/\(tokenID)", "Revoke", back: page, danger: true))
        }
        let details = ConsoleHTML.table(["Name", "Policy", "Status", "Description"], [Row(cells: [
            Cell(text: agent.json["name"]?.stringValue ?? ""), Cell(text: agent.json["policy"]?.stringValue ?? "—"),
            Cell(text: agent.json["status"]?.stringValue ?? ""), Cell(text: agent.json["description"]?.stringValue ?? ""),
        ])], empty: "")
        let change = action(.patch, "\(base)/agents/\(id)", "Save", fields: [
            Field(name: "policy", label: "Policy (name@version)", value: agent.json["policy"]?.stringValue ?? ""),
            Field(name: "status", label: "Status", kind: .select([("active", "active"), ("disabled", "disabled")]),
                  value: agent.json["status"]?.stringValue ?? "active"),
        ], back: page, inline: false)
        let issue = action(.post, "\(base)/agents/\(id)/tokens", "Issue token", fields: [Field(name: "name", label: "Token name")], back: page, inline: false)
        let delete = action(.delete, "\(base)/agents/\(id)", "Delete agent", back: "/orgs/\(org)/agents", danger: true)
        return Rendered(title: "Agent \(agent.json["name"]?.stringValue ?? "")", content: details
            + (change.isEmpty ? "" : ConsoleHTML.section("Change", change))
            + ConsoleHTML.section("Tokens", ConsoleHTML.table(["Token", "Name", "Issued", "Last used", "State"], rows, empty: "No tokens.") + issue)
            + delete)
    }

    // MARK: Policies

    func policies() async -> Rendered {
        let page = "/orgs/\(org)/policies"
        let answer = await get("\(base)/policies")
        guard answer.ok else { return failed("Policies", answer) }
        let rows = list(answer).map { policy in
            Row(cells: [Cell(text: policy["name"]?.stringValue ?? "", href: "\(page)/\(policy["id"]?.stringValue ?? "")"),
                        Cell(text: ConsoleHTML.text(policy["latest_version"])), Cell(text: ConsoleHTML.text(policy["agent_count"])),
                        Cell(text: policy["description"]?.stringValue ?? "")])
        }
        let create = action(.post, "\(base)/policies", "Create policy", fields: [
            Field(name: "name", label: "Name", required: true, placeholder: "support-bot"), Field(name: "description", label: "Description"),
            Field(name: "rules", label: "Rules (JSON)", kind: .textarea(rows: 8), required: true, placeholder: #"{"models": {"allow": ["gpt-4o*"]}}"#),
        ], back: page, inline: false)
        return listing("Policies", ["Policy", "Latest version", "Agents", "Description"], rows, empty: "No policies yet.", create: create, heading: "New policy")
    }

    func policy(_ id: String) async -> Rendered {
        let page = "/orgs/\(org)/policies/\(id)"
        let policy = await get("\(base)/policies/\(id)")
        guard policy.ok else { return failed("Policy", policy) }
        var versions: [JSONValue] = []
        if case .array(let list)? = policy.json["versions"] { versions = list }
        var content = ""
        if let from = query("from"), let to = query("to") {
            let diff = await get("\(base)/policies/\(id)/diff?from=\(Self.encoded(from))&to=\(Self.encoded(to))")
            content += ConsoleHTML.section("Changes from version \(from) to \(to)", diff.ok
                ? ConsoleHTML.table(["Path", "Change", "Before", "After"], Self.changeRows(diff.json["changes"]), empty: "No differences.")
                : ConsoleHTML.message(diff.errorMessage))
        }
        let latest = policy.json["policy"]?["latest_version"]?.intValue ?? versions.count
        content += ConsoleHTML.form(action: page, method: .get, csrf: "", fields: [
            Field(name: "from", label: "Compare version", kind: .number, value: query("from") ?? String(max(latest - 1, 1))),
            Field(name: "to", label: "with version", kind: .number, value: query("to") ?? String(latest)),
        ], submit: "Show the differences", inline: true)
        for version in versions.reversed() {
            content += ConsoleHTML.section("Version \(ConsoleHTML.text(version["version"])) · \(ConsoleHTML.time(version["created_at"]))",
                                           ConsoleHTML.pre(ConsoleHTML.pretty(version["rules"] ?? .null)))
        }
        let publish = action(.post, "\(base)/policies/\(id)/versions", "Publish a new version", fields: [
            Field(name: "rules", label: "Rules (JSON)", kind: .textarea(rows: 10), required: true,
                  value: versions.last.map { ConsoleHTML.pretty($0["rules"] ?? .null) } ?? ""),
        ], back: page, inline: false)
        return Rendered(title: "Policy \(policy.json["policy"]?["name"]?.stringValue ?? "")", content: content
            + (publish.isEmpty ? "" : ConsoleHTML.section("Publish", publish)))
    }

    static func changeRows(_ changes: JSONValue?) -> [Row] {
        guard case .array(let items)? = changes else { return [] }
        return items.map { change in
            Row(cells: [Cell(text: change["path"]?.stringValue ?? "", code: true), Cell(text: change["kind"]?.stringValue ?? ""),
                        Cell(text: ConsoleHTML.text(change["before"]), code: true), Cell(text: ConsoleHTML.text(change["after"]), code: true)])
        }
    }

    // MARK: Budgets, provider keys

    func budgets() async -> Rendered {
        let page = "/orgs/\(org)/budgets"
        let answer = await get("\(base)/budgets")
        guard answer.ok else { return failed("Budgets", answer) }
        let rows = list(answer).map { budget in
            let id = budget["id"]?.stringValue ?? ""
            return Row(cells: [
                Cell(text: budget["scope"]?.stringValue ?? ""), Cell(text: ConsoleHTML.shortID(budget["scope_id"]?.stringValue ?? ""), code: true),
                Cell(text: budget["period"]?.stringValue ?? ""), Cell(text: ConsoleHTML.usd(budget["cap_micros"])),
                Cell(text: ConsoleHTML.usd(budget["spend"]?["spent_micros"])), Cell(text: ConsoleHTML.usd(budget["spend"]?["reserved_micros"])),
                Cell(text: "\(ConsoleHTML.text(budget["alert_threshold_percent"]))%"),
            ], actions: action(.post, "\(base)/budgets/\(id)/reset", "Reset", back: page)
                + action(.delete, "\(base)/budgets/\(id)", "Delete", back: page, danger: true))
        }
        let create = action(.post, "\(base)/budgets", "Create budget", fields: [
            Field(name: "scope", label: "Scope", kind: .select([("org", "org"), ("team", "team"), ("agent", "agent"), ("run", "run")])),
            Field(name: "scope_id", label: "Team or agent id"),
            Field(name: "period", label: "Period", kind: .select([("day", "day"), ("month", "month"), ("run", "run")])),
            Field(name: "cap_micros", label: "Cap (micro-dollars)", kind: .number, required: true),
            Field(name: "alert_threshold_percent", label: "Alert at %", kind: .number, value: "80"),
        ], back: page, inline: false)
        return listing("Budgets", ["Scope", "Of", "Period", "Cap", "Spent", "Reserved", "Alert"], rows, empty: "No budgets yet.", create: create, heading: "New budget")
    }

    func providerKeys() async -> Rendered {
        let page = "/orgs/\(org)/provider-keys"
        let answer = await get("\(base)/provider-keys")
        guard answer.ok else { return failed("Provider keys", answer) }
        let rows = list(answer).map { key in
            Row(cells: [Cell(text: key["provider"]?.stringValue ?? ""), Cell(text: key["name"]?.stringValue ?? ""),
                        Cell(text: key["base_url"]?.stringValue ?? "", code: true), Cell(text: "…" + (key["last_four"]?.stringValue ?? ""), code: true),
                        Cell(text: ConsoleHTML.time(key["created_at"]))],
                actions: action(.delete, "\(base)/provider-keys/\(key["id"]?.stringValue ?? "")", "Delete", back: page, danger: true))
        }
        let create = action(.post, "\(base)/provider-keys", "Add provider key", fields: [
            Field(name: "provider", label: "Provider", kind: .select([("openai", "openai"), ("anthropic", "anthropic")])),
            Field(name: "name", label: "Name", required: true), Field(name: "base_url", label: "Base URL", placeholder: "https://api.openai.com/v1"),
            Field(name: "api_key", label: "API key", kind: .password, required: true),
        ], back: page, inline: false)
        return listing("Provider keys", ["Provider", "Name", "Base URL", "Key", "Added"], rows, empty: "No provider keys yet.", create: create, heading: "New provider key")
    }

    // MARK: Webhooks

    func webhooks() async -> Rendered {
        let page = "/orgs/\(org)/webhooks"
        let answer = await get("\(base)/webhooks")
        guard answer.ok else { return failed("Webhooks", answer) }
        let rows = list(answer).map { hook in
            Row(cells: [Cell(text: hook["url"]?.stringValue ?? "", href: "\(page)/\(hook["id"]?.stringValue ?? "")", code: true),
                        Cell(text: ConsoleHTML.text(hook["events"])), Cell(text: ConsoleHTML.text(hook["active"]))])
        }
        let create = action(.post, "\(base)/webhooks", "Subscribe", fields: [
            Field(name: "url", label: "URL", required: true, placeholder: "https://example.com/rungate"),
            Field(name: "events", label: "Events (comma-separated)", required: true, placeholder: EventType.allCases.map(\.rawValue).joined(separator: ", ")),
            Field(name: "description", label: "Description"),
        ], back: page, inline: false)
        return listing("Webhooks", ["URL", "Events", "Active"], rows, empty: "No webhooks yet.", create: create, heading: "New webhook")
    }

    func webhook(_ id: String) async -> Rendered {
        let page = "/orgs/\(org)/webhooks/\(id)"
        let hook = await get("\(base)/webhooks/\(id)")
        guard hook.ok else { return failed("Webhook", hook) }
        let deliveries = list(await get("\(base)/webhooks/\(id)/deliveries?limit=50")).map { delivery in
            Row(cells: [
                Cell(text: delivery["event_type"]?.stringValue ?? ""), Cell(text: delivery["status"]?.stringValue ?? ""),
                Cell(text: ConsoleHTML.text(delivery["attempts"])), Cell(text: ConsoleHTML.text(delivery["last_status_code"])),
                Cell(text: delivery["last_error"]?.stringValue ?? ""), Cell(text: ConsoleHTML.time(delivery["created_at"])),
            ], actions: action(.post, "\(base)/webhooks/\(id)/deliveries/\(delivery["id"]?.stringValue ?? "")/redeliver", "Redeliver", back: page))
        }
        let controls = action(.post, "\(base)/webhooks/\(id)/test", "Send a test event", back: page)
            + action(.post, "\(base)/webhooks/\(id)/rotate-secret", "Rotate the secret", back: page)
            + action(.delete, "\(base)/webhooks/\(id)", "Delete", back: "/orgs/\(org)/webhooks", danger: true)
        return Rendered(title: "Webhook", content: ConsoleHTML.message(hook.json["url"]?.stringValue ?? "") + controls
            + ConsoleHTML.section("Deliveries", ConsoleHTML.table(["Event", "Status", "Attempts", "Last answer", "Last error", "Queued"], deliveries,
                                                                  empty: "No deliveries yet.")))
    }

    // MARK: Members, audit log, settings

    func members() async -> Rendered {
        let page = "/orgs/\(org)/members"
        let answer = await get("\(base)/members")
        guard answer.ok else { return failed("Members", answer) }
        let roles: [(value: String, label: String)] = Role.allCases.map { ($0.rawValue, $0.rawValue) }
        let rows = list(answer).map { member in
            let user = member["user_id"]?.stringValue ?? "", role = member["role"]?.stringValue ?? ""
            return Row(cells: [Cell(text: member["email"]?.stringValue ?? ""), Cell(text: role), Cell(text: ConsoleHTML.time(member["joined_at"]))],
                       actions: role == "owner" ? "" : action(.patch, "\(base)/members/\(user)", "Change role",
                                                              fields: [Field(name: "role", label: "Role", kind: .select(roles.filter { $0.value != "owner" }), value: role)],
                                                              back: page)
                           + action(.delete, "\(base)/members/\(user)", "Remove", back: page, danger: true))
        }
        let invitations = visit.can(.membersInvite) ? list(await get("\(base)/invitations")).filter { $0["accepted_at"] == .null && $0["revoked_at"] == .null }
            .map { invitation in
                Row(cells: [Cell(text: invitation["email"]?.stringValue ?? ""), Cell(text: invitation["role"]?.stringValue ?? ""),
                            Cell(text: ConsoleHTML.time(invitation["expires_at"]))],
                    actions: action(.delete, "\(base)/invitations/\(invitation["id"]?.stringValue ?? "")", "Revoke", back: page, danger: true))
            } : []
        let invite = action(.post, "\(base)/invitations", "Invite", fields: [
            Field(name: "email", label: "E-mail", kind: .email, required: true),
            Field(name: "role", label: "Role", kind: .select(roles.filter { $0.value != "owner" }), value: "member"),
        ], back: page, inline: false)
        var content = ConsoleHTML.table(["Member", "Role", "Joined"], rows, empty: "")
        if visit.can(.membersInvite) {
            content += ConsoleHTML.section("Invitations", ConsoleHTML.table(["E-mail", "Role", "Expires"], invitations, empty: "No pending invitations.") + invite)
        }
        return Rendered(title: "Members", content: content)
    }

    func auditLog() async -> Rendered {
        var path = "\(base)/audit-log?limit=100"
        for name in ["action", "target_type", "target_id", "actor_id"] {
            if let value = query(name) { path += "&\(name)=\(Self.encoded(value))" }
        }
        let answer = await get(path)
        guard answer.ok else { return failed("Audit log", answer) }
        let filters = ConsoleHTML.form(action: "/orgs/\(org)/audit-log", method: .get, csrf: "", fields: [
            Field(name: "action", label: "Action", value: query("action") ?? ""), Field(name: "target_type", label: "Target type", value: query("target_type") ?? ""),
        ], submit: "Filter", inline: true)
        let rows = list(answer).map { entry in
            Row(cells: [Cell(text: ConsoleHTML.time(entry["created_at"])), Cell(text: entry["action"]?.stringValue ?? "", code: true),
                        Cell(text: "\(entry["actor_type"]?.stringValue ?? "") \(ConsoleHTML.shortID(entry["actor_id"]?.stringValue ?? ""))"),
                        Cell(text: "\(entry["target_type"]?.stringValue ?? "") \(ConsoleHTML.shortID(entry["target_id"]?.stringValue ?? ""))"),
                        Cell(text: entry["origin_ip"]?.stringValue ?? "")])
        }
        return Rendered(title: "Audit log", content: filters + ConsoleHTML.table(["When", "Action", "Actor", "Target", "From"], rows, empty: "Nothing recorded."))
    }

    func settings() async -> Rendered {
        let page = "/orgs/\(org)/settings"
        let settings = await get("\(base)/settings")
        guard settings.ok else { return failed("Settings", settings) }
        let orgAnswer = await get(base)
        let current = ConsoleHTML.table(["Organisation", "Payload retention", "Store payloads", "Default alert"], [Row(cells: [
            Cell(text: orgAnswer.json["name"]?.stringValue ?? ""), Cell(text: "\(ConsoleHTML.text(settings.json["retention_days"])) days"),
            Cell(text: ConsoleHTML.text(settings.json["store_payloads"])), Cell(text: "\(ConsoleHTML.text(settings.json["alert_threshold_percent"]))%"),
        ])], empty: "")
        let change = action(.patch, "\(base)/settings", "Save settings", fields: [
            Field(name: "retention_days", label: "Payload retention (days)", kind: .number, value: ConsoleHTML.text(settings.json["retention_days"])),
            Field(name: "store_payloads", label: "Store payloads", kind: .select([("true", "yes"), ("false", "no")]),
                  value: settings.json["store_payloads"] == .bool(false) ? "false" : "true"),
            Field(name: "alert_threshold_percent", label: "Default alert %", kind: .number, value: ConsoleHTML.text(settings.json["alert_threshold_percent"])),
        ], back: page, inline: false)
        let rename = action(.patch, base, "Rename", fields: [Field(name: "name", label: "Name", required: true, value: orgAnswer.json["name"]?.stringValue ?? "")],
                            back: page, inline: false)
        let scheduled = orgAnswer.json["deletion_due_at"].map { $0 != .null } ?? false
        let lifecycle = scheduled
            ? ConsoleHTML.message("This organisation is scheduled for deletion at \(ConsoleHTML.time(orgAnswer.json["deletion_due_at"])).")
                + action(.post, "\(base)/restore", "Restore it", back: page)
            : action(.delete, base, "Delete this organisation (24 hours to change your mind)", back: page, danger: true)
        return Rendered(title: "Settings", content: current + (change.isEmpty ? "" : ConsoleHTML.section("Change", change))
            + (rename.isEmpty ? "" : ConsoleHTML.section("Name", rename)) + (lifecycle.isEmpty ? "" : ConsoleHTML.section("Deletion", lifecycle)))
    }
}
