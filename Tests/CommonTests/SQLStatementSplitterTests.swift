import Common
import Foundation
import Testing

@Suite struct SQLStatementSplitterTests {
    @Test func splitsOnlyOnStatementSemicolons() {
        let sql = """
            -- a comment; with a semicolon
            CREATE TABLE a (x text DEFAULT 'a;b', "we;ird" int);
            /* block; /* nested; */ still comment; */
            CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN PERFORM 1; PERFORM 2; END; $$;
            DO $body$ BEGIN RAISE NOTICE 'it''s; fine'; END $body$;
            SELECT $1;
            -- trailing comment only
            """
        let statements = SQLStatementSplitter.split(sql)
        #expect(statements.count == 4)
        #expect(statements[0].hasSuffix("\"we;ird\" int)"))
        #expect(statements[1].contains("PERFORM 2; END; $$"))
        #expect(statements[2].contains("'it''s; fine'"))
        #expect(statements[3] == "SELECT $1")
    }

    @Test func everyMigrationFileSplitsIntoNonEmptyStatements() throws {
        let migrations = try Migration.load(from: Self.migrationsDirectory)
        #expect(!migrations.isEmpty)
        for migration in migrations {
            let statements = migration.statements
            #expect(!statements.isEmpty, "\(migration.name) has no statements")
            #expect(statements.allSatisfy { !$0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty })
        }
    }

    @Test func schemaVersionMatchesTheNewestMigration() throws {
        let migrations = try Migration.load(from: Self.migrationsDirectory)
        #expect(migrations.last?.version == SchemaVersion.required,
                "bump SchemaVersion.required when adding a migration")
        #expect(migrations.map(\.version) == Array(1...migrations.count), "migration numbers must be contiguous")
    }

    static let migrationsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("migrations")
}
