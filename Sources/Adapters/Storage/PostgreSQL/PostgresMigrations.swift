import Logging

/// The versioned schema, applied in order at connect time.
///
/// Each migration runs once per schema, recorded in `schema_migrations`. All of them run
/// in one transaction under `pg_advisory_xact_lock`, so several server processes may start
/// at the same moment: one migrates, the others wait and then find nothing to do.
enum PostgresMigrations {
    struct Migration {
        let version: Int32
        let statements: [String]
    }

    /// Append only: a released migration is never edited.
    static let all: [Migration] = [
        Migration(version: 1, statements: [
            """
            CREATE TABLE clients (
                seq bigint GENERATED ALWAYS AS IDENTITY,
                id bytea NOT NULL,
                name text NOT NULL,
                public_key bytea NOT NULL,
                last_seen double precision,
                CONSTRAINT clients_pkey PRIMARY KEY (id),
                CONSTRAINT clients_name_key UNIQUE (name),
                CONSTRAINT clients_seq_key UNIQUE (seq)
            )
            """,
            // Content up to the inline limit lives in `content`; larger content in chunk rows
            // under `blob_id`. The id is drawn when the row is inserted, which for an upload
            // is at commit, so ids ascend in storing order.
            """
            CREATE TABLE messages (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                recipient bytea NOT NULL,
                sender bytea NOT NULL,
                kind smallint NOT NULL,
                content_size bigint NOT NULL,
                content bytea,
                blob_id bigint,
                claim_token bigint,
                claimed_until timestamptz,
                stored_at timestamptz NOT NULL DEFAULT now(),
                CONSTRAINT messages_blob_key UNIQUE (blob_id)
            )
            """,
            "CREATE INDEX messages_recipient_id_idx ON messages (recipient, id)",
            "CREATE INDEX messages_claimed_until_idx ON messages (claimed_until) WHERE claim_token IS NOT NULL",
            "CREATE SEQUENCE message_blob_seq",
            // Deferred so that an upload can write its chunks before the message row exists;
            // the check happens at COMMIT, when the row is there.
            """
            CREATE TABLE message_chunks (
                blob_id bigint NOT NULL,
                seq integer NOT NULL,
                data bytea NOT NULL,
                PRIMARY KEY (blob_id, seq),
                CONSTRAINT message_chunks_blob_fkey FOREIGN KEY (blob_id) REFERENCES messages (blob_id)
                    ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED
            )
            """,
            // Contents are ciphertext: compressing them is wasted work.
            "ALTER TABLE message_chunks ALTER COLUMN data SET STORAGE EXTERNAL",
            "ALTER TABLE messages ALTER COLUMN content SET STORAGE EXTERNAL",
        ]),
    ]

    /// Creates `schema` if given and brings it up to the latest version. Blocking.
    static func run(on connection: PostgresConnection, schema: String?, logger: Logger) throws {
        try connection.execute("BEGIN")
        do {
            try connection.execute(
                "SELECT pg_advisory_xact_lock(hashtext('sealpost.migrations'), hashtext($1))",
                [.text(schema ?? "")])
            if let schema {
                try connection.execute("CREATE SCHEMA IF NOT EXISTS \(quoteIdentifier(schema))")
            }
            try connection.execute("""
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version integer PRIMARY KEY,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """)
            let rows = try connection.execute("SELECT version FROM schema_migrations")
            let applied = Set(try (0..<rows.count).map { try rows.int($0, 0) })
            for migration in all where !applied.contains(Int64(migration.version)) {
                for statement in migration.statements {
                    try connection.execute(statement)
                }
                try connection.execute("INSERT INTO schema_migrations (version) VALUES ($1)", [.int32(migration.version)])
                logger.info("Applied PostgreSQL migration", metadata: ["version": "\(migration.version)"])
            }
            try connection.execute("COMMIT")
        } catch {
            _ = try? connection.execute("ROLLBACK")
            throw error
        }
    }

    /// Quotes an SQL identifier: double quotes, inner quotes doubled.
    static func quoteIdentifier(_ name: String) -> String {
        "\"" + name.split(separator: "\"", omittingEmptySubsequences: false).joined(separator: "\"\"") + "\""
    }
}
