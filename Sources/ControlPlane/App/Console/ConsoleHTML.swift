import Common
import Foundation
import HTTPTypes

/// Building blocks of console pages, each rendered by a template (so every text is HTML-escaped).
enum ConsoleHTML {
    struct Cell {
        var text: String
        var href: String?
        var code = false

        var object: [String: Any] { compact(["text": text, "href": href, "code": code]) }
    }

    struct Row {
        var cells: [Cell]
        /// Forms or links for this row (HTML from `form`).
        var actions = ""
    }

    static func table(_ columns: [String], _ rows: [Row], empty: String) -> String {
        let hasActions = rows.contains { !$0.actions.isEmpty }
        return ConsoleTemplates.render("table", [
            "columns": columns, "hasRows": !rows.isEmpty, "hasActions": hasActions, "empty": empty,
            "rows": rows.map { ["cells": $0.cells.map(\.object), "actions": $0.actions, "hasActions": hasActions] as [String: Any] },
        ])
    }

    static func section(_ heading: String?, _ body: String, id: String? = nil, live: String? = nil) -> String {
        ConsoleTemplates.render("section", compact(["heading": heading, "body": body, "id": id, "live": live]))
    }

    static func pre(_ text: String) -> String { ConsoleTemplates.render("pre", ["text": text]) }

    static func message(_ text: String, link: (label: String, href: String)? = nil) -> String {
        ConsoleTemplates.render("message", compact(["text": text, "href": link?.href, "label": link?.label]))
    }

    /// A template object without its nil values (Mustache would take a wrapped nil for a value).
    static func compact(_ object: [String: Any?]) -> [String: Any] {
        object.compactMapValues { $0 }
    }

    static func pretty(_ json: JSONValue) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return (try? String(decoding: encoder.encode(json), as: UTF8.self)) ?? ""
    }

    // MARK: Forms

    struct Field {
        enum Kind {
            case text, email, password, number, date
            case select([(value: String, label: String)])
            case textarea(rows: Int)
        }

        var name: String
        var label: String
        var kind: Kind = .text
        var required = false
        var value = ""
        var placeholder = ""

        var object: [String: Any] {
            var object: [String: Any] = ["name": name, "label": label, "required": required, "value": value, "placeholder": placeholder]
            switch kind {
            case .select(let options):
                object["select"] = true
                object["options"] = options.map { ["value": $0.value, "label": $0.label, "selected": $0.value == value] as [String: Any] }
            case .textarea(let rows):
                object["textarea"] = true
                object["rows"] = rows
            case .text, .email, .password, .number, .date:
                object["input"] = true
                object["type"] = switch kind {
                case .email: "email"
                case .password: "password"
                case .number: "number"
                case .date: "date"
                default: "text"
                }
            }
            return object
        }
    }

    static func form(action: String, method: HTTPRequest.Method = .post, csrf: String, fields: [Field] = [], hidden: [String: String] = [:],
                     submit: String, danger: Bool = false, inline: Bool = false) -> String {
        ConsoleTemplates.render("form", [
            "action": action, "method": method == .get ? "get" : "post", "post": method != .get, "csrf": csrf,
            "fields": fields.map(\.object), "hidden": hidden.sorted { $0.key < $1.key }.map { ["name": $0.key, "value": $0.value] },
            "submit": submit, "danger": danger, "class": inline ? "inline" : "card",
        ])
    }

    // MARK: Values

    static func usd(_ micros: JSONValue?) -> String {
        guard case .number(let value)? = micros else { return "" }
        return String(format: "$%.6f", value / 1_000_000)
    }

    static func text(_ value: JSONValue?) -> String {
        switch value {
        case .string(let text)?: text
        case .number(let number)?: number.rounded() == number && abs(number) < 1e15 ? String(Int(number)) : String(number)
        case .bool(let flag)?: flag ? "yes" : "no"
        case .null?, nil: ""
        case .array(let items)?: items.map { text($0) }.joined(separator: ", ")
        case .object?: pretty(value!)
        }
    }

    /// An id shortened for tables and titles: its last 8 characters. Not its first: the run and step
    /// ids Rungate makes are time-ordered (UUID version 7), and their first 8 characters are a
    /// timestamp every id made in the same minute shares; the last are random.
    static func shortID(_ id: String) -> String {
        String(id.suffix(8))
    }

    /// A timestamp shortened for tables (`2026-11-23 01:23:45`).
    static func time(_ value: JSONValue?) -> String {
        guard let text = value?.stringValue else { return "" }
        return text.replacingOccurrences(of: "T", with: " ").replacingOccurrences(of: "Z", with: "")
    }
}
