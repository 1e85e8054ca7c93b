import Application
import Domain
import NIOCore
import SealpostWire

/// Attachment requests of one session: run by its one worker, in order (§9), with the bytes
/// the session holds bounded.
extension SecureSessionChannelHandler {
    // MARK: Attachments

    struct AttachmentJob: Sendable {
        let requestID: UInt32
        let request: V3Request
        let account: AccountID

        /// The bytes the job holds while it waits: a write's data.
        var heldBytes: Int {
            if case .attachWrite(_, _, let data) = request { data.readableBytes } else { 0 }
        }
    }

    /// Most writes stored in one append, or reads read in one go.
    static let maxGatheredWrites = 16

    func enqueueAttachment(_ job: AttachmentJob, router: SecureRequestRouter, context: ChannelHandlerContext) {
        if attachmentJobs == nil {
            let jobs = AttachmentJobQueue()
            attachmentJobs = jobs
            let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
            let loop = context.eventLoop
            let maxRead = maxAttachmentRead
            let readLimit = attachmentBytesLimit
            attachmentTask = Task {
                await SecureSessionChannelHandler.work(jobs, router: router, maxRead: maxRead, readLimit: readLimit, handler: handler, loop: loop)
            }
        }
        attachmentBytes += job.heldBytes
        attachmentJobs?.push(job)
    }

    /// The session's attachment worker: runs what waits in `jobs`, group by group, until
    /// the queue ends or the task is cancelled.
    private static func work(_ jobs: AttachmentJobQueue, router: SecureRequestRouter, maxRead: Int, readLimit: Int,
                             handler: NIOLoopBound<SecureSessionChannelHandler>, loop: any EventLoop) async {
        while let waiting = await jobs.next() {
            for group in groups(of: waiting, readLimit: readLimit) {
                if Task.isCancelled { return }
                let answers = await run(group, router: router, maxRead: maxRead)
                // Written on the loop; the worker goes on at once unless the session holds
                // too many bytes, and then once these answers have reached the socket.
                let finished = loop.flatSubmit { handler.value.finishAttachments(answers, loop: loop) }
                _ = try? await finished.get()
            }
        }
    }

    /// `jobs` in order, in runs that go to storage together: consecutive ATTACH_WRITEs of
    /// one attachment, each at the offset where the one before ends, and likewise
    /// consecutive ATTACH_READs (at most `readLimit` bytes together: the session's
    /// `attachmentBytesLimit`, what it may hold of their answers); any other job alone.
    static func groups(of jobs: [AttachmentJob], readLimit: Int) -> [[AttachmentJob]] {
        var groups: [[AttachmentJob]] = []
        var next: (write: Bool, id: AttachmentID, offset: UInt64, account: AccountID)?
        var readBytes = 0
        for job in jobs {
            let write: Bool, id: AttachmentID, offset: UInt64, count: Int
            switch job.request {
            case .attachWrite(let writeID, let writeOffset, let data):
                (write, id, offset, count) = (true, writeID, writeOffset, data.readableBytes)
            case .attachRead(let readID, let readOffset, let length):
                (write, id, offset, count) = (false, readID, readOffset, Int(length))
            default:
                groups.append([job])
                next = nil
                continue
            }
            if let expected = next, expected.write == write, expected.id == id, expected.offset == offset,
               expected.account == job.account, let last = groups.last?.count, last < Self.maxGatheredWrites,
               write || readBytes + count <= readLimit {
                groups[groups.count - 1].append(job)
                readBytes += count
            } else {
                groups.append([job])
                readBytes = count
            }
            next = (write, id, offset + UInt64(count), job.account)
        }
        return groups
    }

    /// Answers a group from `groups(of:)`: several writes in one append when it succeeds,
    /// else each job on its own.
    static func run(_ group: [AttachmentJob], router: SecureRequestRouter, maxRead: Int) async -> [(AttachmentJob, V3ServerMessage)] {
        if group.count > 1, let first = group.first {
            var answers: [V3ServerMessage]?
            if case .attachWrite(let id, _, _) = first.request {
                let writes = group.compactMap { job -> (requestID: UInt32, offset: UInt64, data: ByteBuffer)? in
                    guard case .attachWrite(_, let offset, let data) = job.request else { return nil }
                    return (job.requestID, offset, data)
                }
                answers = await router.answerWrites(writes, to: id, account: first.account)
            } else if case .attachRead(let id, _, _) = first.request {
                let reads = group.compactMap { job -> (requestID: UInt32, offset: UInt64, length: UInt32)? in
                    guard case .attachRead(_, let offset, let length) = job.request else { return nil }
                    return (job.requestID, offset, length)
                }
                answers = await router.answerReads(reads, of: id, account: first.account, maxAttachmentRead: maxRead)
            }
            if let answers, answers.count == group.count { return Array(zip(group, answers)) }
        }
        var answers: [(AttachmentJob, V3ServerMessage)] = []
        for job in group {
            answers.append((job, await router.answer(job.request, requestID: job.requestID, account: job.account, delivery: nil,
                                                     maxAttachmentRead: maxRead)))
        }
        return answers
    }

    /// Sends finished attachment requests' answers, flushed together; the returned future
    /// completes when the worker may run the next ones.
    func finishAttachments(_ answers: [(AttachmentJob, V3ServerMessage)], loop: any EventLoop) -> EventLoopFuture<Void> {
        for (job, _) in answers { attachmentBytes -= job.heldBytes }
        guard let context, !closing else { return loop.makeSucceededVoidFuture() }
        var written: EventLoopFuture<Void>?
        for (job, answer) in answers {
            for action in machine.completed(requestID: job.requestID, answer) {
                guard case .send(let message) = action else { continue }
                var buffer = context.channel.allocator.buffer(capacity: 64)
                message.write(into: &buffer)
                let size = buffer.readableBytes
                attachmentBytes += size
                let promise = context.eventLoop.makePromise(of: Void.self)
                let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
                promise.futureResult.whenComplete { _ in
                    let handler = handler.value
                    handler.attachmentBytes -= size
                    if let context = handler.context { handler.resumeReading(context: context) }
                }
                context.write(wrapOutboundOut(buffer), promise: promise)
                written = promise.futureResult
            }
            if closing { return loop.makeSucceededVoidFuture() }
        }
        if written != nil { context.flush() }
        if let pause = Self.refusalPause(after: answers.map { ($0.0.requestID, $0.1) }) { pauseReading(for: pause, context: context) }
        resumeReading(context: context)
        if attachmentBytes > attachmentBytesLimit, let written {
            return written.flatMapErrorThrowing { _ in }
        }
        return context.eventLoop.makeSucceededVoidFuture()
    }

    /// Stops the attachment worker: requests still queued are dropped with the session.
    func endAttachments() {
        attachmentJobs?.finish()
        attachmentJobs = nil
        attachmentTask?.cancel()
        attachmentTask = nil
    }
}
