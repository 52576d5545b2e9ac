/* LD_PRELOAD shim for tests/server/test_lifecycle.py: makes a libmicrohttpd
 * worker thread see the quiesce of the listening socket late, the timing that
 * aborted the server on SIGTERM now and then ("Failed to remove listen FD from
 * epoll set"). While MHD_quiesce_daemon runs, the quiescing thread removes the
 * socket from each worker's epoll set and then waits 100 ms (as if descheduled
 * before it records that); a worker that removes the socket itself in that
 * window is held 300 ms first, so its removal comes after the quiesce has
 * returned and the server has done what it does next with the socket. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static _Thread_local int quiescing_here;
static atomic_int quiescing;

static int listening(int fd) {
  int on = 0;
  socklen_t n = sizeof on;
  return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &n) == 0 && on;
}

int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev) {
  static int (*real)(int, int, int, struct epoll_event *);
  if (!real)
    real = (int (*)(int, int, int, struct epoll_event *))dlsym(RTLD_NEXT, "epoll_ctl");
  if (op != EPOLL_CTL_DEL || !listening(fd))
    return real(epfd, op, fd, ev);
  if (quiescing_here) {
    int rc = real(epfd, op, fd, ev);
    usleep(100000);
    return rc;
  }
  if (atomic_load(&quiescing)) {
    static const char said[] = "late_worker: a worker removes the listening socket late\n";
    if (write(2, said, sizeof said - 1) < 0) { /* the test then fails: nothing was shown */
    }
    usleep(300000);
  }
  return real(epfd, op, fd, ev);
}

int MHD_quiesce_daemon(void *daemon) {
  int (*real)(void *) = (int (*)(void *))dlsym(RTLD_NEXT, "MHD_quiesce_daemon");
  atomic_store(&quiescing, 1);
  quiescing_here = 1;
  int fd = real(daemon);
  quiescing_here = 0;
  return fd;
}
