// Linux socket readiness (epoll, eventfd) for the server's TCP transport. Glibc's Swift
// overlay does not expose these headers.
#ifndef SEALPOST_CLINUXNET_SHIM_H
#define SEALPOST_CLINUXNET_SHIM_H

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <linux/sockios.h>
#include <malloc.h>

// GNU extensions, declared here rather than through _GNU_SOURCE, which would make these
// headers disagree with the Glibc module's view of the same types.
extern int accept4(int fd, struct sockaddr *address, socklen_t *length, int flags);
extern int pthread_setname_np(pthread_t thread, const char *name);

// The peer's address is read later, and only when logged.
static inline int sealpost_accept(int listener, struct sockaddr_storage *peer) {
    socklen_t length = sizeof(*peer);
    return accept4(listener, (struct sockaddr *)peer, &length, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

static inline int sealpost_set_thread_name(pthread_t thread, const char *name) {
    return pthread_setname_np(thread, name);
}

// Bytes written to a TCP socket that its peer has not acknowledged yet, or -1.
static inline int sealpost_unacknowledged_bytes(int fd) {
    int count = 0;
    if (ioctl(fd, SIOCOUTQ, &count) < 0) return -1;
    return count;
}

// glibc's cap on malloc arenas (mallopt(M_ARENA_MAX)), which bounds the server's RSS:
// see Sources/Bootstrap/Composition/MallocArenas.swift. Returns 1 on success.
static inline int sealpost_limit_malloc_arenas(int count) { return mallopt(M_ARENA_MAX, count); }

static inline unsigned int sealpost_epoll_in(void) { return EPOLLIN; }
static inline unsigned int sealpost_epoll_out(void) { return EPOLLOUT; }
static inline unsigned int sealpost_epoll_err(void) { return EPOLLERR; }
static inline unsigned int sealpost_epoll_hup(void) { return EPOLLHUP; }
static inline unsigned int sealpost_epoll_rdhup(void) { return EPOLLRDHUP; }
static inline unsigned int sealpost_epoll_exclusive(void) { return EPOLLEXCLUSIVE; }

#endif
