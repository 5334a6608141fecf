import Common
import ControlPlane
import DataPlane
import Foundation
import Hummingbird
import PlatformAdmin
import Prometheus

/// Builds each process's application as its executable does, against a test database, connecting
/// with that process's own database role.
public enum TestApps {
    /// The apps' health monitors give PostgreSQL 30 s to answer, not 2: with every suite running at
    /// once on a busy CI machine a `SELECT 1` went unanswered for over 3 s, and the app under test
    /// refused its next call with 503 as an outage would. Outages themselves are what
    /// `DatabaseHealthTests` and `DatabaseGoneTests` (monitors of their own) and the end-to-end
    /// fault tests (real processes, default settings) exercise.
    public static func backing(_ database: TestDatabase, role: String, redisURL: String? = nil) throws -> BackingServices {
        try BackingServices(databaseURL: try database.url(role: role), redisURL: redisURL ?? TestServers.redisURL(),
                            applicationName: "rungate-test", logger: TestServers.logger, databaseHealthTimeout: .seconds(30))
    }

    public static func dataPlane(_ database: TestDatabase, keyring: MasterKeyring = .random(), redisURL: String? = nil) throws -> some ApplicationProtocol {
        try buildDataPlane(configuration: .init(port: 0, keyring: keyring), backing: try backing(database, role: "rungate_data", redisURL: redisURL),
                       metrics: PrometheusCollectorRegistry(), logger: TestServers.logger)
    }

    /// The control plane with test settings: fast password hashing (bcrypt cost 4), sweeps left to the test.
    public static func controlPlaneConfiguration(keyring: MasterKeyring = .random()) -> ControlPlaneConfiguration {
        ControlPlaneConfiguration(port: 0, keyring: keyring, passwordHashCost: 4, deletionSweepInterval: .seconds(3600))
    }

    public static func controlPlane(
        _ database: TestDatabase, configuration: ControlPlaneConfiguration = controlPlaneConfiguration(), redisURL: String? = nil
    ) throws -> some ApplicationProtocol {
        buildControlPlane(configuration: configuration, backing: try backing(database, role: "rungate_control", redisURL: redisURL),
                          metrics: PrometheusCollectorRegistry(), logger: TestServers.logger)
    }

    /// The control plane's route table and services over `database`, connected as `rungate_control`
    /// (the caller runs `services.database.client`).
    public static func controlPlaneAPI(
        _ database: TestDatabase, configuration: ControlPlaneConfiguration = controlPlaneConfiguration(), redisURL: String? = nil
    ) throws -> (api: ControlPlaneAPI, backing: BackingServices) {
        let backing = try backing(database, role: "rungate_control", redisURL: redisURL)
        return (ControlPlaneAPI(services: ControlPlaneServices(configuration: configuration, backing: backing)), backing)
    }

    public static func platformAdmin(_ database: TestDatabase, redisURL: String? = nil) throws -> some ApplicationProtocol {
        buildPlatformAdmin(configuration: .init(port: 0), backing: try backing(database, role: "rungate_platform", redisURL: redisURL),
                           metrics: PrometheusCollectorRegistry(), logger: TestServers.logger)
    }
}
