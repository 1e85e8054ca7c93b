import ArgumentParser

/// The options every client command takes.
struct ClientOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "The client's home directory (me.info, the client database, downloads).",
        discussion: "Else $SEALPOST_HOME; else the current directory when it holds me.info or server.info; else $XDG_DATA_HOME/sealpost (~/.local/share/sealpost)."))
    var home: String?

    @Option(name: .long, help: ArgumentHelp(
        "The server as HOST:PORT.",
        discussion: "Else $SEALPOST_SERVER; else server.info in the home directory; else 127.0.0.1:1234."))
    var server: String?

    func validate() throws {
        if let server, ServerAddress(parsing: server) == nil {
            throw ValidationError("--server must be HOST:PORT, not \"\(server)\"")
        }
    }
}
