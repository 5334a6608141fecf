import Common
import Foundation
import Hummingbird
import HummingbirdTesting
import TestSupport
import Testing

/// `/healthz`, `/readyz` and `/metrics` on all three processes, each connected with its own role.
@Suite struct OperationalRoutesTests {
    enum Process: String, CaseIterable { case data, control, platform }

    static func app(_ process: Process, _ database: TestDatabase, redisURL: String? = nil) throws -> any ApplicationProtocol {
        switch process {
        case .data: try TestApps.dataPlane(database, redisURL: redisURL)
        case .control: try TestApps.controlPlane(database, redisURL: redisURL)
        case .platform: try TestApps.platformAdmin(database, redisURL: redisURL)
        }
    }

    @Test(arguments: Process.allCases)
    func readyWhenPostgresAndRedisAnswer(process: Process) async throws {
        try await TestDatabase.with { database in
            try await Self.app(process, database).test(.router) { client in
                try await client.execute(uri: "/healthz", method: .get) { response in
                    #expect(response.status == .ok)
                    #expect(String(buffer: response.body).contains("\"service\":\"rungate-\(process.rawValue)\""))
                }
                try await client.execute(uri: "/readyz", method: .get) { response in
                    #expect(response.status == .ok)
                    let body = try JSONDecoder().decode(JSONValue.self, from: response.body)
                    #expect(body["status"] == "ready")
                    #expect(body["checks"]?["postgres"] == "up")
                    #expect(body["checks"]?["redis"] == "up")
                }
                try await client.execute(uri: "/metrics", method: .get) { response in
                    #expect(response.status == .ok)
                    #expect(response.headers[.contentType]?.hasPrefix("text/plain") == true)
                }
                try await client.execute(uri: "/no/such/route", method: .get) { response in
                    #expect(response.status == .notFound)
                    #expect(response.headers[.requestID] != nil)
                    let body = try JSONDecoder().decode(JSONValue.self, from: response.body)
                    #expect(body["error"] != nil)
                }
            }
        }
    }

    @Test func notReadyWhenRedisIsDownAndSaysWhich() async throws {
        try await TestDatabase.with { database in
            try await TestApps.dataPlane(database, redisURL: "redis://127.0.0.1:1/0").test(.router) { client in
                try await client.execute(uri: "/readyz", method: .get) { response in
                    #expect(response.status == .serviceUnavailable)
                    let body = try JSONDecoder().decode(JSONValue.self, from: response.body)
                    #expect(body["status"] == "not_ready")
                    #expect(body["checks"]?["redis"] == "down")
                    #expect(body["checks"]?["postgres"] == "up")
                }
                // Liveness does not depend on dependencies: the process is alive.
                try await client.execute(uri: "/healthz", method: .get) { response in
                    #expect(response.status == .ok)
                }
            }
        }
    }
}

/// The org and platform APIs answer with headers that keep their answers out of frames, caches and
/// referrers — errors included (they are rendered by the error middleware, inside this one).
@Suite struct SecurityHeadersTests {
    @Test(arguments: [OperationalRoutesTests.Process.control, .platform])
    func everyAnswerCarriesTheSecurityHeaders(process: OperationalRoutesTests.Process) async throws {
        try await TestDatabase.with { database in
            try await OperationalRoutesTests.app(process, database).test(.router) { client in
                let paths = process == .control ? ["/healthz", "/api/me", "/api/orgs/not-a-uuid/agents", "/api/openapi.json"]
                    : ["/healthz", "/platform/orgs"]
                for path in paths {
                    try await client.execute(uri: path, method: .get) { response in
                        #expect(response.headers[.xFrameOptions] == "DENY", "\(path)")
                        #expect(response.headers[.xContentTypeOptions] == "nosniff", "\(path)")
                        #expect(response.headers[.referrerPolicy] == "no-referrer", "\(path)")
                        #expect(response.headers[.cacheControl] == "no-store", "\(path)")
                        #expect(response.headers[.contentSecurityPolicy]?.hasPrefix("default-src 'none'") == true, "\(path)")
                    }
                }
            }
        }
    }
}

@Suite struct SecurityContactTests {
    @Test func securityTxtNamesTheContactAndAnExpiry() async throws {
        try await TestDatabase.with { database in
            var configuration = TestApps.controlPlaneConfiguration()
            configuration.securityContact = "mailto:sec@example.org"
            try await TestApps.controlPlane(database, configuration: configuration).test(.router) { client in
                try await client.execute(uri: "/.well-known/security.txt", method: .get) { response in
                    let text = String(buffer: response.body)
                    #expect(response.status == .ok && text.contains("Contact: mailto:sec@example.org\n") && text.contains("Expires: 20"))
                    #expect(response.headers[.xFrameOptions] == "DENY")
                }
            }
        }
    }
}

