#if canImport(Glibc)
import CLinuxNet
#endif
import Foundation

/// The server's malloc arenas (glibc).
///
/// glibc gives threads arenas of their own, up to eight per core, and an arena keeps what
/// is freed in it. Attachment chunks (512 KiB to 1 MiB buffers) are allocated and freed on
/// whichever event loop or pool thread touches them, so each arena ends up holding a few
/// MiB: with the default, the server's peak RSS during a PostgreSQL attachment was 61 MiB,
/// with one arena per core 52 MiB, at the same throughput and CPU (BENCHMARKS.md). Small
/// allocations are served from per-thread caches, so sharing arenas costs little.
enum MallocArenas {
    /// Caps the arenas at one per core (at least 2), unless the operator has chosen already
    /// (`MALLOC_ARENA_MAX` or `GLIBC_TUNABLES` set). Call first thing, before threads start.
    static func limitToCores() {
        #if canImport(Glibc)
        let environment = ProcessInfo.processInfo.environment
        guard environment["MALLOC_ARENA_MAX"] == nil, environment["GLIBC_TUNABLES"] == nil else { return }
        _ = sealpost_limit_malloc_arenas(Int32(max(2, ProcessInfo.processInfo.activeProcessorCount)))
        #endif
    }
}
