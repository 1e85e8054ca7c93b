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
        return migrator
    }
}
