@testable import Application
import Testing

@Suite("ServerLimits")
struct ServerLimitsTests {
    @Test("defaults: 1 GiB content, 64 KiB in memory")
    func defaults() {
        let limits = ServerLimits()
        #expect(limits.maxPayload == 1 << 30)
        #expect(limits.inlineContentLimit == 64 * 1024)
    }

    @Test("the in-memory limit never exceeds the payload limit")
    func inlineBounded() {
        #expect(ServerLimits(maxPayload: 100, inlineContentLimit: 1000).inlineContentLimit == 100)
        #expect(ServerLimits(maxPayload: 1000, inlineContentLimit: 100).inlineContentLimit == 100)
    }
}
