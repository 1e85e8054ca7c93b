import GRDB

/// The client database's schema, in versioned migrations.
enum SQLiteClientStateSchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE contact (
                    id BLOB PRIMARY KEY NOT NULL,       -- 16-byte client id
                    name TEXT UNIQUE,                   -- as the server lists it
                    public_key BLOB                     -- 160 bytes, when fetched
                );
                CREATE TABLE pair_key (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    contact_id BLOB NOT NULL REFERENCES contact(id),
                    key BLOB NOT NULL,                  -- 16-byte AES key
                    origin TEXT NOT NULL,               -- 'created' here or 'received'
                    is_current INTEGER NOT NULL,        -- 1 for the key used to send
                    UNIQUE (contact_id, key)
                );
                CREATE UNIQUE INDEX pair_key_current ON pair_key(contact_id) WHERE is_current = 1;
                """)
        }
        return migrator
    }
}
