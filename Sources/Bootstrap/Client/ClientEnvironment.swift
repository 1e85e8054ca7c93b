import Adapters
import Application
import Foundation

/// Where a client command's state lives and which server it talks to, resolved once from
/// the options, the environment and the disk: one home holds the identity and all local state.
struct ClientEnvironment {
    /// The home directory.
    let home: String
    /// The server.
    let server: ServerAddress

    /// Resolves the home: `--home`, else `$SEALPOST_HOME`, else the current directory when
    /// it holds an original client's me.info or server.info, else
    /// `$XDG_DATA_HOME/sealpost` (default `~/.local/share/sealpost`).
    static func resolveHome(_ option: String?, environment: [String: String], currentDirectory: String) -> String {
        if let option, !option.isEmpty { return option }
        if let home = environment["SEALPOST_HOME"], !home.isEmpty { return home }
        let manager = FileManager.default
        for file in ["me.info", "server.info"]
        where manager.fileExists(atPath: (currentDirectory as NSString).appendingPathComponent(file)) {
            return currentDirectory
        }
        if let data = environment["XDG_DATA_HOME"], data.hasPrefix("/") {
            return (data as NSString).appendingPathComponent("sealpost")
        }
        let user = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return (user as NSString).appendingPathComponent(".local/share/sealpost")
    }

    /// Resolves the server: `--server`, else `$SEALPOST_SERVER`, else server.info in the
    /// home, else 127.0.0.1:1234.
    static func resolveServer(_ option: String?, home: String, environment: [String: String]) throws -> ServerAddress {
        try namedServer(option, home: home, environment: environment) ?? .fallback
    }

    /// The server named by `--server`, `$SEALPOST_SERVER` or server.info in the home; nil when
    /// none is.
    static func namedServer(_ option: String?, home: String, environment: [String: String]) throws -> ServerAddress? {
        if let option {
            guard let address = ServerAddress(parsing: option) else { throw ClientError.invalidArgument("--server must be HOST:PORT, not \"\(option)\"") }
            return address
        }
        if let text = environment["SEALPOST_SERVER"], !text.isEmpty {
            guard let address = ServerAddress(parsing: text) else { throw ClientError.invalidArgument("$SEALPOST_SERVER must be HOST:PORT, not \"\(text)\"") }
            return address
        }
        let file = (home as NSString).appendingPathComponent("server.info")
        if let text = try? String(contentsOfFile: file, encoding: .utf8) {
            let line = text.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
            guard let address = ServerAddress(parsing: line) else { throw ClientError.localState("\(file) must hold HOST:PORT, not \"\(line)\"") }
            return address
        }
        return nil
    }

    /// Resolves both from the options and the process environment.
    static func resolve(_ options: ClientOptions) throws -> ClientEnvironment {
        let environment = ProcessInfo.processInfo.environment
        let home = resolveHome(options.home, environment: environment, currentDirectory: FileManager.default.currentDirectoryPath)
        return ClientEnvironment(home: home, server: try resolveServer(options.server, home: home, environment: environment))
    }

    /// Creates the home (mode 0700) when missing, opens the client database and builds the
    /// ports.
    func services() throws -> ClientServices {
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        if !manager.fileExists(atPath: home, isDirectory: &isDirectory) {
            do {
                try manager.createDirectory(atPath: home, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw ClientError.localState("cannot create the home directory \(home): \(error.localizedDescription)")
            }
        } else if !isDirectory.boolValue {
            throw ClientError.localState("the home \(home) is not a directory")
        }
        let maxReply = ProcessInfo.processInfo.environment["SEALPOST_MAX_REPLY_BYTES"].flatMap { UInt64($0) }
        return ClientServices(
            identity: MeInfoIdentityStore(home: home),
            state: try SQLiteClientStateStore.open(path: (home as NSString).appendingPathComponent("sealpost-client.db")),
            server: TCPSeedServerConnection(
                host: server.host, port: server.port,
                maxReplySize: maxReply ?? TCPSeedServerConnection.defaultMaxReplySize),
            crypto: OpenSSLLegacyCrypto(),
            files: LocalFileSystem(downloads: (home as NSString).appendingPathComponent("downloads")))
    }
}
