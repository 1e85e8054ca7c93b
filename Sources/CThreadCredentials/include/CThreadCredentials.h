#ifndef SEALPOST_C_THREAD_CREDENTIALS_H
#define SEALPOST_C_THREAD_CREDENTIALS_H

/// Gives every thread of the process the calling thread's user, group and supplementary
/// groups, for threads that glibc's set*id broadcast passed over: a main thread that
/// libdispatch's dispatch_main() parked inside pthread_exit (in sigsuspend) counts as exiting,
/// so glibc skips it, and it would otherwise keep root. Each such thread is sent a signal
/// whose handler makes the raw (per-thread) system calls.
///
/// Returns 0 when every thread matches the caller; -1 with errno set otherwise.
int sealpost_align_thread_credentials(void);

#endif
