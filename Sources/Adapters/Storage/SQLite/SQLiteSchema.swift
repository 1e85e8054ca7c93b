import GRDB

/// The database layout, as an ordered list of migrations.
///
/// A migration, once released, never changes: a new layout is a new migration appended
/// here. `DatabaseMigrator` records which ones a database has had and runs the rest.
enum SQLiteSchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: clients and messages") { db in
            // `seq` keeps registration order; AUTOINCREMENT never reuses a number.
            try db.execute(sql: """
                CREATE TABLE clients (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    id BLOB NOT NULL UNIQUE CHECK (length(id) = 16),
                    name TEXT NOT NULL UNIQUE,
                    public_key BLOB NOT NULL,
                    last_seen REAL
                );
                """)
            // A message keeps its content either in the row (`content`) or in the blob
            // directory (`blob`, the file's name without suffix), never both.
            try db.execute(sql: """
                CREATE TABLE messages (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    recipient BLOB NOT NULL,
                    sender BLOB NOT NULL,
                    kind INTEGER NOT NULL,
                    content_size INTEGER NOT NULL,
                    content BLOB,
                    blob TEXT UNIQUE,
                    CHECK ((content IS NULL) <> (blob IS NULL))
                );
                CREATE INDEX messages_by_recipient ON messages (recipient, id);
                """)
        }
        migrator.registerMigration("v2: accounts, prekeys, envelopes") { db in
            // Protocol v3. Names compare byte for byte: TEXT's default collation, BINARY, is
            // memcmp over the UTF-8. `seq` columns keep insertion order.
            try db.execute(sql: """
                CREATE TABLE accounts (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    id BLOB NOT NULL UNIQUE CHECK (length(id) = 16),
                    name TEXT NOT NULL UNIQUE,
                    signing_key BLOB NOT NULL,
                    dh_key BLOB NOT NULL,
                    dh_key_signature BLOB NOT NULL
                );
                CREATE TABLE signed_prekeys (
                    account BLOB PRIMARY KEY REFERENCES accounts (id),
                    prekey_id INTEGER NOT NULL,
                    public_key BLOB NOT NULL,
                    signature BLOB NOT NULL
                );
                CREATE TABLE one_time_prekeys (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    account BLOB NOT NULL REFERENCES accounts (id),
                    prekey_id INTEGER NOT NULL,
                    public_key BLOB NOT NULL,
                    signature BLOB NOT NULL,
                    UNIQUE (account, prekey_id)
                );
                CREATE INDEX one_time_prekeys_by_account ON one_time_prekeys (account, seq);
                """)
            // Leases are not stored: one process owns the file, and after a crash every
            // envelope is simply waiting again (SQLiteLeaseBook).
            try db.execute(sql: """
                CREATE TABLE envelopes (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    recipient BLOB NOT NULL,
                    sender BLOB NOT NULL,
                    stored_at INTEGER NOT NULL,
                    envelope BLOB NOT NULL
                );
                CREATE INDEX envelopes_by_recipient ON envelopes (recipient, id);
                """)
        }
        migrator.registerMigration("v3: attachments") { db in
            // Protocol v3 attachments: metadata here, bytes in `<path>.attachments/<id>.att`,
            // whose length is the stored offset (AttachmentFiles).
            try db.execute(sql: """
                CREATE TABLE attachments (
                    id BLOB PRIMARY KEY CHECK (length(id) = 16),
                    uploader BLOB NOT NULL,
                    size INTEGER NOT NULL,
                    created_at INTEGER NOT NULL,
                    expires_at INTEGER NOT NULL
                );
                CREATE INDEX attachments_by_expiry ON attachments (expires_at);
                CREATE TABLE attachment_recipients (
                    attachment BLOB NOT NULL REFERENCES attachments (id) ON DELETE CASCADE,
                    position INTEGER NOT NULL,
                    recipient BLOB NOT NULL,
                    done INTEGER NOT NULL DEFAULT 0,
                    PRIMARY KEY (attachment, recipient)
                );
                """)
        }
        migrator.registerMigration("v4: envelope expiry index") { db in
            // Expiry (`limits.messageTTLDays`) deletes by `stored_at`: without an index each
            // hourly run read the whole table. Attachments have theirs (`attachments_by_expiry`).
            try db.execute(sql: "CREATE INDEX envelopes_by_stored_at ON envelopes (stored_at)")
        }
        migrator.registerMigration("v5: attachment quota") { db in
            // One leaky bucket of attachment bytes per account (`limits.rate.attachmentBytesPerDay`,
            // SQLiteAttachmentQuota): what it held at `updated_at`, seconds since 1970 as REAL.
            try db.execute(sql: """
                CREATE TABLE attachment_quota (
                    account BLOB PRIMARY KEY CHECK (length(account) = 16),
                    level REAL NOT NULL,
                    updated_at REAL NOT NULL
                ) WITHOUT ROWID;
                """)
        }
        return migrator
    }
}
