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
        // Protocol v3: accounts, their prekeys, and the envelope queue with delivery leases.
        Migration(version: 2, statements: [
            // COLLATE "C": names are unique, looked up and listed byte-wise (memcmp over the
            // UTF-8), whatever the database's locale.
            """
            CREATE TABLE accounts (
                seq bigint GENERATED ALWAYS AS IDENTITY,
                id bytea NOT NULL,
                name text COLLATE "C" NOT NULL,
                signing_key bytea NOT NULL,
                dh_key bytea NOT NULL,
                dh_key_signature bytea NOT NULL,
                CONSTRAINT accounts_pkey PRIMARY KEY (id),
                CONSTRAINT accounts_name_key UNIQUE (name),
                CONSTRAINT accounts_id_length CHECK (length(id) = 16)
            )
            """,
            """
            CREATE TABLE signed_prekeys (
                account bytea NOT NULL,
                prekey_id bigint NOT NULL,
                public_key bytea NOT NULL,
                signature bytea NOT NULL,
                CONSTRAINT signed_prekeys_pkey PRIMARY KEY (account),
                CONSTRAINT signed_prekeys_account_fkey FOREIGN KEY (account) REFERENCES accounts (id)
            )
            """,
            // `seq` keeps the order in which prekeys were stored: bundles hand out the oldest.
            """
            CREATE TABLE one_time_prekeys (
                account bytea NOT NULL,
                seq bigint GENERATED ALWAYS AS IDENTITY,
                prekey_id bigint NOT NULL,
                public_key bytea NOT NULL,
                signature bytea NOT NULL,
                CONSTRAINT one_time_prekeys_pkey PRIMARY KEY (account, seq),
                CONSTRAINT one_time_prekeys_id_key UNIQUE (account, prekey_id),
                CONSTRAINT one_time_prekeys_account_fkey FOREIGN KEY (account) REFERENCES accounts (id)
            )
            """,
            // A lease is `leased_by` (the holder, 64 bits as bigint) until `leased_until`
            // (ms since 1970); both NULL when no one holds the envelope.
            """
            CREATE TABLE envelopes (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                recipient bytea NOT NULL,
                sender bytea NOT NULL,
                stored_at bigint NOT NULL,
                envelope bytea NOT NULL,
                leased_by bigint,
                leased_until bigint,
                CONSTRAINT envelopes_lease_check CHECK ((leased_by IS NULL) = (leased_until IS NULL))
            )
            """,
            "CREATE INDEX envelopes_recipient_id_idx ON envelopes (recipient, id)",
            "CREATE INDEX envelopes_leased_by_idx ON envelopes (leased_by) WHERE leased_by IS NOT NULL",
            "CREATE INDEX envelopes_leased_until_idx ON envelopes (leased_until) WHERE leased_by IS NOT NULL",
            // Envelopes are ciphertext: compressing them is wasted work.
            "ALTER TABLE envelopes ALTER COLUMN envelope SET STORAGE EXTERNAL",
        ]),
        // Protocol v3 attachments: metadata, recipients, and the bytes as chunk rows, so that
        // any server on the database serves any attachment. A chunk is one ATTACH_WRITE, keyed
        // by where it ends, so that a read finds the chunk holding its offset by the index.
        Migration(version: 3, statements: [
            """
            CREATE TABLE attachments (
                id bytea PRIMARY KEY,
                uploader bytea NOT NULL,
                size bigint NOT NULL,
                stored bigint NOT NULL DEFAULT 0,
                created_at bigint NOT NULL,
                expires_at bigint NOT NULL,
                CONSTRAINT attachments_stored_check CHECK (stored >= 0 AND stored <= size)
            )
            """,
            "CREATE INDEX attachments_expires_at_idx ON attachments (expires_at)",
            """
            CREATE TABLE attachment_recipients (
                attachment bytea NOT NULL REFERENCES attachments (id) ON DELETE CASCADE,
                position integer NOT NULL,
                recipient bytea NOT NULL,
                done boolean NOT NULL DEFAULT false,
                PRIMARY KEY (attachment, recipient)
            )
            """,
            """
            CREATE TABLE attachment_chunks (
                attachment bytea NOT NULL REFERENCES attachments (id) ON DELETE CASCADE,
                end_offset bigint NOT NULL,
                start_offset bigint NOT NULL,
                data bytea NOT NULL,
                PRIMARY KEY (attachment, end_offset)
            )
            """,
            // Ciphertext: compressing it is wasted work; EXTERNAL also makes substring() cheap.
            "ALTER TABLE attachment_chunks ALTER COLUMN data SET STORAGE EXTERNAL",
        ]),
        // Expiry (`limits.messageTTLDays`) deletes envelopes by `stored_at`: without an index
        // each hourly run read the whole table. Attachments have theirs since version 3.
        Migration(version: 4, statements: [
            "CREATE INDEX envelopes_stored_at_idx ON envelopes (stored_at)",
        ]),
        // One leaky bucket of attachment bytes per account (`limits.rate.attachmentBytesPerDay`,
        // PostgresAttachmentQuota), shared by every process: what it held at `updated_at`
        // (seconds since 1970).
        Migration(version: 5, statements: [
            """
            CREATE TABLE attachment_quota (
                account bytea PRIMARY KEY,
                level double precision NOT NULL,
                updated_at double precision NOT NULL,
                CONSTRAINT attachment_quota_account_length CHECK (length(account) = 16)
            )
            """,
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
