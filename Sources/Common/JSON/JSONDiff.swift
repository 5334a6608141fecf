/// One difference between two JSON documents, at a path such as `tools.deny[1]`.
public struct JSONChange: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable { case added, removed, changed }

    public let path: String
    public let kind: Kind
    public let before: JSONValue?
    public let after: JSONValue?
}

extension JSONValue {
    /// The changes that turn `self` into `other`, depth first, keys in order.
    public func changes(to other: JSONValue, at path: String = "") -> [JSONChange] {
        switch (self, other) {
        case (.object(let left), .object(let right)):
            return Set(left.keys).union(right.keys).sorted().flatMap { key -> [JSONChange] in
                let child = path.isEmpty ? key : "\(path).\(key)"
                switch (left[key], right[key]) {
                case (let l?, let r?): return l.changes(to: r, at: child)
                case (let l?, nil): return [JSONChange(path: child, kind: .removed, before: l, after: nil)]
                case (nil, let r?): return [JSONChange(path: child, kind: .added, before: nil, after: r)]
                case (nil, nil): return []
                }
            }
        case (.array(let left), .array(let right)):
            let length: Int = Swift.max(left.count, right.count)
            return (0..<length).flatMap { (index: Int) -> [JSONChange] in
                let child = "\(path)[\(index)]"
                let l: JSONValue? = index < left.count ? .some(left[index]) : .none
                let r: JSONValue? = index < right.count ? .some(right[index]) : .none
                switch (l, r) {
                case (let l?, let r?): return l.changes(to: r, at: child)
                case (let l?, nil): return [JSONChange(path: child, kind: .removed, before: l, after: nil)]
                case (nil, let r?): return [JSONChange(path: child, kind: .added, before: nil, after: r)]
                case (nil, nil): return []
                }
            }
        default:
            return self == other ? [] : [JSONChange(path: path, kind: .changed, before: self, after: other)]
        }
    }
}
