import GRDB

/// The v3 client database's schema (`<home>/sealpost-v3.db`), in versioned migrations.
enum SQLiteSecureClientSchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE identity (
                    only INTEGER PRIMARY KEY CHECK (only = 1),
                    account BLOB NOT NULL,              -- 16-byte account id
                    name TEXT NOT NULL,
                    server TEXT NOT NULL,               -- HOST:PORT of the v3 server
                    identity_seed BLOB NOT NULL,        -- Ed25519 seed, 32 bytes
                    agreement_private_key BLOB NOT NULL -- X25519, 32 bytes
                );
                CREATE TABLE signed_prekey (
                    id INTEGER PRIMARY KEY NOT NULL,
                    private_key BLOB NOT NULL,
                    created_at INTEGER NOT NULL,        -- ms since 1970 UTC
                    replaced_at INTEGER                 -- NULL for the current one
                );
                CREATE TABLE one_time_prekey (
                    id INTEGER PRIMARY KEY NOT NULL,
                    private_key BLOB NOT NULL
                );
                CREATE TABLE counter (
                    name TEXT PRIMARY KEY NOT NULL,
                    value INTEGER NOT NULL
                );
                CREATE TABLE session (
                    peer BLOB PRIMARY KEY NOT NULL,
                    state BLOB NOT NULL                 -- EndToEndSession, JSON
                );
                CREATE TABLE archived_session (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    peer BLOB NOT NULL,
                    state BLOB NOT NULL                 -- EndToEndSession, JSON
                );
                CREATE INDEX archived_session_peer ON archived_session(peer, seq);
                CREATE TABLE contact (
                    account BLOB PRIMARY KEY NOT NULL,
                    name TEXT UNIQUE,
                    identity BLOB NOT NULL,             -- pinned: signing ‖ agreement ‖ signature
                    verified INTEGER NOT NULL,
                    changed_identity BLOB               -- another identity, waiting for trust
                );
                CREATE TABLE seen (
                    message_id INTEGER PRIMARY KEY NOT NULL,
                    seen_at INTEGER NOT NULL
                );
                CREATE TABLE history (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    peer BLOB NOT NULL,
                    direction TEXT NOT NULL,            -- 'in' or 'out'
                    time INTEGER NOT NULL,
                    kind TEXT NOT NULL,                 -- 'text', 'file' or 'file-failed'
                    body TEXT NOT NULL,
                    message_id INTEGER,
                    shown INTEGER NOT NULL              -- 0 for a received message not yet printed
                );
                CREATE INDEX history_unshown ON history(seq) WHERE shown = 0;
                CREATE INDEX history_peer ON history(peer, seq);
                """)
        }
        migrator.registerMigration("v2: pending registration") { db in
            // Kept before REGISTER is sent, deleted once the identity row is saved.
            try db.execute(sql: """
                CREATE TABLE pending_registration (
                    only INTEGER PRIMARY KEY CHECK (only = 1),
                    name TEXT NOT NULL,
                    server TEXT NOT NULL,
                    identity_seed BLOB NOT NULL,
                    agreement_private_key BLOB NOT NULL
                );
                """)
        }
        // Marking a received message shown looks it up by id: without this index that was a
        // scan of the whole history for every message (2.6 ms at 20,000 entries, growing).
        migrator.registerMigration("v3: history by message id") { db in
            try db.execute(sql: "CREATE INDEX history_message_id ON history(message_id)")
        }
        // A send-file cut by a crash resumes its attachment: kept before the first byte is
        // uploaded, deleted with the history entry of the message that announced it.
        migrator.registerMigration("v4: pending uploads") { db in
            try db.execute(sql: """
                CREATE TABLE pending_upload (
                    recipient BLOB NOT NULL,            -- 16-byte account id
                    path TEXT NOT NULL,                 -- the file's absolute path
                    attachment BLOB NOT NULL,           -- 16-byte attachment id
                    key BLOB NOT NULL,                  -- the STREAM's key, 32 bytes
                    plain_size INTEGER NOT NULL,        -- the file's size when the upload began
                    modified INTEGER NOT NULL,          -- its mtime then, ns since 1970
                    file_name TEXT NOT NULL,            -- the name it is sent under
                    PRIMARY KEY (recipient, path)
                );
                """)
        }
        // A sealed envelope is kept from the transaction that saves its ratchet step until the
        // server's answer is known (SecureOutboxItem): a crash between resends it, not loses it.
        migrator.registerMigration("v5: outbox") { db in
            try db.execute(sql: """
                CREATE TABLE outbox (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    peer BLOB NOT NULL,                 -- 16-byte account id
                    envelope BLOB NOT NULL,             -- the signed envelope as sent
                    kind TEXT NOT NULL,                 -- the history's kind and body once sent
                    body TEXT NOT NULL,
                    owner TEXT NOT NULL                 -- "pid:start time" of the process that sealed it
                );
                """)
        }
        return migrator
    }
}
