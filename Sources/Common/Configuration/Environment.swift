import Foundation

/// Reads `RUNGATE_*` environment variables. Empty values count as unset.
public enum Env {
    public static func get(_ name: String) -> String? {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else { return nil }
        return value
    }

    public static func int(_ name: String) -> Int? { get(name).flatMap(Int.init) }

    public static func bool(_ name: String) -> Bool? {
        guard let value = get(name)?.lowercased() else { return nil }
        return ["1", "true", "yes", "on"].contains(value)
    }
}
