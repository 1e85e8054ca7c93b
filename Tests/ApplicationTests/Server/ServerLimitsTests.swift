@testable import Application
import Testing

@Suite("ServerLimits")
struct ServerLimitsTests {
    @Test("defaults: 1 GiB content, 64 KiB in memory, a pull of one maximal message")
    func defaults() {
        let limits = ServerLimits()
        #expect(limits.maxPayload == 1 << 30)
        #expect(limits.inlineContentLimit == 64 * 1024)
        #expect(limits.maxPullBytes == 25 + (1 << 30))
    }

    @Test("a message must fit a 1004 reply: the payload limit stops 25 bytes short of 4 GiB")
    func capped() {
        let limits = ServerLimits(maxPayload: .max)
        #expect(limits.maxPayload == UInt32.max - 25)
        #expect(limits.maxPullBytes == UInt64(UInt32.max))
    }

    @Test("the in-memory limit never exceeds the payload limit")
    func inlineBounded() {
        #expect(ServerLimits(maxPayload: 100, inlineContentLimit: 1000).inlineContentLimit == 100)
        #expect(ServerLimits(maxPayload: 1000, inlineContentLimit: 100).inlineContentLimit == 100)
    }
}
