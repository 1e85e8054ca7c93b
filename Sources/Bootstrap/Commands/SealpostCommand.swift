import ArgumentParser

/// `sealpost`: the server and, beside it, the client commands.
@main
struct SealpostCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sealpost",
        abstract: "End-to-end-encrypted store-and-forward messaging (seed protocol v2).",
        subcommands: [ServeCommand.self, BenchCommand.self]
    )
}
