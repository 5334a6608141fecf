import Foundation
import HTTPTypes

/// The browser form of a session: `rungate_session`, HttpOnly (scripts cannot read it), Secure
/// (never sent over plain HTTP, localhost excepted by browsers), SameSite=Strict (never sent on
/// cross-site requests), for the whole origin: the API (`/api`) and the console (`/`).
public enum SessionCookie {
    public static let name = "rungate_session"

    public static func set(_ token: String, maxAge: Duration) -> String {
        "\(name)=\(token); Path=/; Max-Age=\(maxAge.components.seconds); HttpOnly; Secure; SameSite=Strict"
    }

    public static var clear: String {
        "\(name)=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict"
    }

    static func value(in headers: HTTPFields, named name: String = name) -> String? {
        for header in headers[values: .cookie] {
            for pair in header.split(separator: ";") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                if parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == name {
                    return parts[1].trimmingCharacters(in: .whitespaces)
                }
            }
        }
        return nil
    }
}
