// Linux socket readiness (epoll, eventfd) for the server's TCP transport. Glibc's Swift
// overlay does not expose these headers.
#ifndef SEALPOST_CLINUXNET_SHIM_H
#define SEALPOST_CLINUXNET_SHIM_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sys/socket.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>

// accept4's address arguments are a transparent union under _GNU_SOURCE, which Swift
// cannot pass NULL to; the peer's address is read later, and only when logged.
static inline int sealpost_accept(int listener) {
    return accept4(listener, 0, 0, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

// pthread_setname_np is a GNU extension the Glibc overlay leaves out.
static inline int sealpost_set_thread_name(pthread_t thread, const char *name) {
    return pthread_setname_np(thread, name);
}

static inline unsigned int sealpost_epoll_in(void) { return EPOLLIN; }
static inline unsigned int sealpost_epoll_out(void) { return EPOLLOUT; }
static inline unsigned int sealpost_epoll_err(void) { return EPOLLERR; }
static inline unsigned int sealpost_epoll_hup(void) { return EPOLLHUP; }
static inline unsigned int sealpost_epoll_rdhup(void) { return EPOLLRDHUP; }
static inline unsigned int sealpost_epoll_exclusive(void) { return EPOLLEXCLUSIVE; }

#endif
