/// Reports the progress of a file transfer (a progress bar on a terminal, or nothing).
public protocol TransferProgress: AnyObject {
    /// A transfer of `total` bytes starts.
    func start(label: String, total: UInt64)
    /// `done` bytes of the current transfer are through.
    func advance(to done: UInt64)
    /// The current transfer is over.
    func finish()
}
