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

    func enqueueAttachment(_ job: AttachmentJob, router: SecureRequestRouter, context: ChannelHandlerContext) {
        if attachmentJobs == nil {
            let (jobs, continuation) = AsyncStream.makeStream(of: AttachmentJob.self)
            attachmentJobs = continuation
            let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
            let loop = context.eventLoop
            let maxRead = maxAttachmentRead
            attachmentTask = Task {
                for await job in jobs {
                    guard !Task.isCancelled else { break }
                    let answer = await router.answer(job.request, requestID: job.requestID, account: job.account, delivery: nil,
                                                     maxAttachmentRead: maxRead)
                    // Written on the loop; the worker goes on at once unless the session holds
                    // too many bytes, and then once this answer has reached the socket.
                    try? await loop.flatSubmit { handler.value.finishAttachment(job, answer, loop: loop) }.get()
                }
            }
        }
        attachmentBytes += job.heldBytes
        attachmentJobs?.yield(job)
    }

    /// Sends a finished attachment request's answer; the returned future completes when the
    /// worker may run the next one.
    func finishAttachment(_ job: AttachmentJob, _ answer: V3ServerMessage, loop: any EventLoop) -> EventLoopFuture<Void> {
        attachmentBytes -= job.heldBytes
        guard let context, !closing else { return loop.makeSucceededVoidFuture() }
        var written: EventLoopFuture<Void>?
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
            context.writeAndFlush(wrapOutboundOut(buffer), promise: promise)
            written = promise.futureResult
        }
        if let pause = Self.refusalPause(after: [(job.requestID, answer)]) { pauseReading(for: pause, context: context) }
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
