import Common
import Foundation

/// Spend as a bar chart, drawn on the server as SVG (no script, no outside resource): one bar per
/// group, and a dashed line for each budget cap that applies to what the bars show (the org's daily
/// cap on the per-day chart; an agent's or team's daily cap on its own bar).
enum SpendChart {
    static func label(_ group: JSONValue, groupBy: String) -> String {
        group["label"]?.stringValue ?? group["key"]?.stringValue.map { groupBy == "day" ? String($0.prefix(10)) : $0 } ?? "—"
    }

    static func svg(groups: [JSONValue], groupBy: String, budgets: [JSONValue]) -> String {
        guard !groups.isEmpty else { return "" }
        let costs = groups.map { $0["cost_micros"]?.intValue ?? 0 }
        // Caps drawn: per-day org caps on the day chart; per-subject daily caps on agent/team bars.
        var lines: [(label: String, micros: Int, bar: Int?)] = []
        for budget in budgets where budget["period"] == "day" {
            let cap = budget["cap_micros"]?.intValue ?? 0
            switch (groupBy, budget["scope"]?.stringValue) {
            case ("day", "org"?): lines.append(("org daily cap", cap, nil))
            case ("agent", "agent"?), ("team", "team"?):
                if let index = groups.firstIndex(where: { $0["key"]?.stringValue == budget["scope_id"]?.stringValue }) {
                    lines.append(("daily cap", cap, index))
                }
            default: break
            }
        }
        let top = max(costs.max() ?? 0, lines.map(\.micros).max() ?? 0, 1)
        let width = 760, height = 240, left = 70, bottom = 40, plot = height - bottom - 10
        let slot = Double(width - left - 10) / Double(groups.count), barWidth = max(min(slot * 0.7, 60), 2)
        func y(_ micros: Int) -> Double { Double(height - bottom) - Double(micros) / Double(top) * Double(plot) }
        var svg = ##"<svg class="chart" role="img" aria-label="Spend by \##(escape(groupBy))" viewBox="0 0 \##(width) \##(height)" xmlns="http://www.w3.org/2000/svg">"##
        svg += ##"<line x1="\##(left)" y1="\##(height - bottom)" x2="\##(width - 10)" y2="\##(height - bottom)" stroke="#888"/>"##
        for fraction in [0.5, 1.0] {
            let value = Int(Double(top) * fraction)
            svg += ##"<text x="\##(left - 6)" y="\##(y(value) + 4)" text-anchor="end" font-size="11" fill="#555">\##(usd(value))</text>"##
            svg += ##"<line x1="\##(left)" y1="\##(y(value))" x2="\##(width - 10)" y2="\##(y(value))" stroke="#eee"/>"##
        }
        for (index, group) in groups.enumerated() {
            let x = Double(left) + slot * Double(index) + (slot - barWidth) / 2
            let cost = costs[index]
            svg += ##"<rect x="\##(x)" y="\##(y(cost))" width="\##(barWidth)" height="\##(Double(height - bottom) - y(cost))" fill="#3b6fb6"><title>\##(escape(label(group, groupBy: groupBy))): \##(usd(cost))</title></rect>"##
            if groups.count <= 16 {
                svg += ##"<text x="\##(x + barWidth / 2)" y="\##(height - bottom + 14)" text-anchor="middle" font-size="10" fill="#333">\##(escape(String(label(group, groupBy: groupBy).prefix(12))))</text>"##
            }
        }
        for line in lines {
            let (x1, x2) = line.bar.map { index in
                (Double(left) + slot * Double(index), Double(left) + slot * Double(index + 1))
            } ?? (Double(left), Double(width - 10))
            svg += ##"<line class="budget" x1="\##(x1)" y1="\##(y(line.micros))" x2="\##(x2)" y2="\##(y(line.micros))" stroke="#c0392b" stroke-dasharray="6 4"/>"##
            svg += ##"<text x="\##(x2)" y="\##(y(line.micros) - 4)" text-anchor="end" font-size="10" fill="#c0392b">\##(escape(line.label)) \##(usd(line.micros))</text>"##
        }
        return svg + "</svg>"
    }

    /// Dollars with as many decimals as small amounts need (micro-dollars at most).
    static func usd(_ micros: Int) -> String {
        let decimals = micros >= 100_000 ? 2 : micros >= 1_000 ? 4 : 6
        return String(format: "$%.\(decimals)f", Double(micros) / 1_000_000)
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
