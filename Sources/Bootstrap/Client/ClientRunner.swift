import ArgumentParser
import Foundation

/// Runs a client command body: any failure becomes one line on stderr and exit status 1.
enum ClientRunner {
    static func run(_ body: () async throws -> Void) async throws {
        StandardStreams.install()
        do {
            try await body()
        } catch let error as ExitCode {
            throw error
        } catch {
            fail("\(error)")
        }
    }

    /// Prints `sealpost: <reason>` on stderr (one line) and exits with status 1.
    static func fail(_ reason: String) -> Never {
        let line = reason.split(whereSeparator: \.isNewline).joined(separator: " ")
        StandardStreams.error("sealpost: \(line)\n")
        exit(1)
    }

    /// Writes `text` and a newline on stdout.
    static func say(_ text: String) {
        StandardStreams.out(text + "\n")
    }
}
