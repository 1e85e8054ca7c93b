import ArgumentParser

/// `sealpost`: the server and, beside it, the client commands.
@main
struct SealpostCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sealpost",
        abstract: "End-to-end-encrypted store-and-forward messaging (protocol v3, and the seed's v2).",
        subcommands: [
            ServeCommand.self, ServerFingerprintCommand.self,
            RegisterCommand.self, WhoAmICommand.self, ListCommand.self, KeyCommand.self,
            RequestKeyCommand.self, SendKeyCommand.self, SendCommand.self, SendFileCommand.self,
            InboxCommand.self, ListenCommand.self, MenuCommand.self,
            SafetyNumberCommand.self, VerifyCommand.self, TrustCommand.self, ContactsCommand.self, HistoryCommand.self,
            SecureHelloCommand.self, ForgetServerCommand.self,
            BenchCommand.self, AttachmentBenchCommand.self,
            ExchangeBenchCommand.self,
        ]
    )
}
