/* Open connections, for the defences libmicrohttpd 0.9.75 lacks: a per-address
 * cap with exempt peers (trusted_proxies), a deadline for receiving a request
 * (an idle timeout is reset by every byte a trickling client sends), and idle
 * connections closed first when the slots run out (docs/internals/server.md).
 * An IPv6 client is capped by its /64.
 *
 * libmicrohttpd has no call that closes a connection from outside its own
 * thread, so a connection is ended with shutdown(2) on its socket: its thread
 * then reads end-of-file and closes it the ordinary way (the request, if one
 * started, completes as aborted). The registry lock is held across the
 * shutdown and across the CLOSED notification, which libmicrohttpd makes
 * before it closes the descriptor: a shutdown never reaches a reused one. */
#include "server.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

enum phase { WAITING, RECEIVING, BUSY };

struct srv_conn {
  struct srv_conn *prev, *next;
  MHD_socket fd;
  uint8_t addr[17];         /* family (4 or 6), then the address (/64 once counted) */
  int counted;              /* holds one of its address's slots */
  int closing;              /* shut down by us; libmicrohttpd closes it next */
  _Atomic int64_t since_ms; /* when it began waiting for the request it is on */
  atomic_int phase;         /* enum phase */
};

struct per_addr {
  uint32_t tag;
  uint8_t addr[17];
  unsigned count;
};

struct srv_conns {
  pthread_mutex_t lock;
  struct srv_conn head; /* a ring, oldest first */
  struct uc_table per_addr;
  size_t open;
  unsigned per_ip, max, reserve;
  uint64_t deadline_ms;
  const struct uc_cidr *trusted;
  size_t ntrusted;
  _Atomic uint64_t refused, timed_out, evicted;
};

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The address of sa as 17 bytes; an IPv4-mapped IPv6 peer is its IPv4
 * address. 0 for a socket that is not IP. */
static int addr_of(const struct sockaddr *sa, uint8_t out[17]) {
  static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
  memset(out, 0, 17);
  if (sa && sa->sa_family == AF_INET) {
    out[0] = 4;
    memcpy(out + 1, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
    return 1;
  }
  if (sa && sa->sa_family == AF_INET6) {
    const uint8_t *a = ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr;
    if (memcmp(a, mapped, 12) == 0) {
      out[0] = 4;
      memcpy(out + 1, a + 12, 4);
    } else {
      out[0] = 6;
      memcpy(out + 1, a, 16);
    }
    return 1;
  }
  return 0;
}

static int trusted(const struct srv_conns *cs, const uint8_t addr[17]) {
  struct uc_ip ip = {.family = addr[0]};
  memcpy(ip.addr, addr + 1, 16);
  for (size_t i = 0; i < cs->ntrusted; i++)
    if (uc_cidr_contains(&cs->trusted[i], &ip))
      return 1;
  return 0;
}

/* The cap counts an IPv6 client by its /64, as bans do: one host (or one
 * attacker) holds a whole /64 and can open connections from any address in
 * it. Applied after trusted(), which matches the full address. */
static void group(uint8_t addr[17]) {
  if (addr[0] == 6)
    memset(addr + 1 + 8, 0, 8);
}

static int addr_eq(const void *slot, const void *key) {
  return memcmp(((const struct per_addr *)slot)->addr, key, 17) == 0;
}

static uint32_t addr_hash(const uint8_t addr[17]) {
  return uc_hash(addr, 17, 0x5bd1e995u);
}

/* With the lock held: the connections addr holds now. */
static unsigned held_by(struct srv_conns *cs, const uint8_t addr[17]) {
  const struct per_addr *p = uc_table_find(&cs->per_addr, addr_hash(addr), addr_eq, addr);
  return p ? p->count : 0;
}

struct srv_conns *srv_conns_new(const struct uc_config *cfg, const struct uc_cidr *trusted_peers,
                                size_t ntrusted, unsigned reserve) {
  struct srv_conns *cs = calloc(1, sizeof *cs);
  if (!cs)
    return NULL;
  pthread_mutex_init(&cs->lock, NULL);
  cs->head.next = cs->head.prev = &cs->head;
  uc_table_init(&cs->per_addr, sizeof(struct per_addr), offsetof(struct per_addr, tag));
  cs->per_ip = cfg->per_ip_connections;
  cs->max = cfg->max_connections;
  cs->reserve = reserve ? reserve : 1;
  cs->deadline_ms = (uint64_t)cfg->request_timeout * 1000u;
  cs->trusted = trusted_peers, cs->ntrusted = ntrusted;
  return cs;
}

void srv_conns_free(struct srv_conns *cs) {
  if (!cs)
    return;
  for (struct srv_conn *c = cs->head.next, *next; c != &cs->head; c = next) {
    next = c->next;
    free(c);
  }
  uc_table_release(&cs->per_addr);
  pthread_mutex_destroy(&cs->lock);
  free(cs);
}

enum MHD_Result srv_conns_accept(void *cls, const struct sockaddr *sa, socklen_t len) {
  struct srv_conns *cs = cls;
  uint8_t addr[17];
  (void)len;
  if (!cs->per_ip || !addr_of(sa, addr) || trusted(cs, addr))
    return MHD_YES;
  group(addr);
  pthread_mutex_lock(&cs->lock);
  int over = held_by(cs, addr) >= cs->per_ip;
  pthread_mutex_unlock(&cs->lock);
  if (over)
    atomic_fetch_add(&cs->refused, 1);
  return over ? MHD_NO : MHD_YES;
}

/* With the lock held: ends c (see the top of this file). */
static void shut(struct srv_conn *c) {
  if (!c->closing)
    shutdown(c->fd, SHUT_RDWR);
  c->closing = 1;
}

void srv_conns_started(struct srv_conns *cs, struct MHD_Connection *mc, void **socket_ctx) {
  const union MHD_ConnectionInfo *fd =
      MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  struct srv_conn *c = calloc(1, sizeof *c);
  *socket_ctx = c;
  if (!c)
    return;
  c->fd = fd ? fd->connect_fd : MHD_INVALID_SOCKET;
  atomic_init(&c->since_ms, now_ms());
  atomic_init(&c->phase, WAITING);
  int ip = addr_of(ci ? ci->client_addr : NULL, c->addr);
  pthread_mutex_lock(&cs->lock);
  c->prev = cs->head.prev, c->next = &cs->head;
  c->prev->next = c, cs->head.prev = c;
  cs->open++;
  if (cs->per_ip && ip && !trusted(cs, c->addr)) {
    struct per_addr *p = NULL;
    group(c->addr);
    /* accept() checked the cap, but threads accept in parallel: the firm check */
    if (held_by(cs, c->addr) >= cs->per_ip) {
      atomic_fetch_add(&cs->refused, 1);
      shut(c);
    } else if ((p = uc_table_insert(&cs->per_addr, addr_hash(c->addr), addr_eq, c->addr, NULL))) {
      memcpy(p->addr, c->addr, 17);
      p->count++;
      c->counted = 1;
    }
  }
  pthread_mutex_unlock(&cs->lock);
}

void srv_conns_closed(struct srv_conns *cs, void **socket_ctx) {
  struct srv_conn *c = *socket_ctx;
  if (!c)
    return;
  pthread_mutex_lock(&cs->lock);
  c->prev->next = c->next, c->next->prev = c->prev;
  cs->open--;
  if (c->counted) {
    struct per_addr *p = uc_table_find(&cs->per_addr, addr_hash(c->addr), addr_eq, c->addr);
    if (p && --p->count == 0)
      uc_table_remove(&cs->per_addr, p);
  }
  pthread_mutex_unlock(&cs->lock);
  free(c);
  *socket_ctx = NULL;
}

struct srv_conn *srv_conn_of(struct MHD_Connection *mc) {
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  return ci ? ci->socket_context : NULL;
}

void srv_conn_receiving(struct srv_conn *c) {
  if (c)
    atomic_store_explicit(&c->phase, RECEIVING, memory_order_relaxed);
}

void srv_conn_busy(struct srv_conn *c) {
  if (c)
    atomic_store_explicit(&c->phase, BUSY, memory_order_relaxed);
}

void srv_conn_waiting(struct srv_conn *c) {
  if (!c)
    return;
  atomic_store_explicit(&c->since_ms, now_ms(), memory_order_relaxed);
  atomic_store_explicit(&c->phase, WAITING, memory_order_relaxed);
}

/* Connections that wait for a request (idle keep-alive, or a request's head
 * still arriving) for at least this long may be closed to free a slot. */
#define EVICT_MIN_IDLE_MS 1000

/* With the lock held: the waiting connection that has waited longest (at
 * least EVICT_MIN_IDLE_MS), or NULL. */
static struct srv_conn *longest_waiting(struct srv_conns *cs, int64_t now) {
  struct srv_conn *best = NULL;
  int64_t oldest = now - EVICT_MIN_IDLE_MS;
  for (struct srv_conn *c = cs->head.next; c != &cs->head; c = c->next) {
    int64_t since = atomic_load_explicit(&c->since_ms, memory_order_relaxed);
    if (!c->closing && atomic_load_explicit(&c->phase, memory_order_relaxed) == WAITING &&
        since <= oldest)
      best = c, oldest = since;
  }
  return best;
}

void srv_conns_tick(struct srv_conns *cs) {
  int64_t now = now_ms();
  size_t closing = 0;
  pthread_mutex_lock(&cs->lock);
  for (struct srv_conn *c = cs->head.next; c != &cs->head; c = c->next) {
    /* Past the deadline: the request (head and body) did not arrive in time. */
    if (!c->closing && cs->deadline_ms &&
        atomic_load_explicit(&c->phase, memory_order_relaxed) != BUSY &&
        now - atomic_load_explicit(&c->since_ms, memory_order_relaxed) >= (int64_t)cs->deadline_ms)
      shut(c), atomic_fetch_add(&cs->timed_out, 1);
    closing += c->closing;
  }
  /* Slots running out (fewer than reserve free): close waiting connections,
   * the longest waiting first, plus some headroom for the next arrivals. */
  size_t live = cs->open - closing, want = 0;
  if (live + cs->reserve > cs->max)
    want = live + cs->reserve - cs->max + cs->max / 64;
  for (struct srv_conn *c; want && (c = longest_waiting(cs, now)); want--)
    shut(c), atomic_fetch_add(&cs->evicted, 1);
  pthread_mutex_unlock(&cs->lock);
}

void srv_conns_stats(struct srv_conns *cs, struct srv_conns_stats *out) {
  pthread_mutex_lock(&cs->lock);
  out->open = cs->open;
  out->addresses = cs->per_addr.count;
  pthread_mutex_unlock(&cs->lock);
  out->refused_per_ip = atomic_load(&cs->refused);
  out->timed_out = atomic_load(&cs->timed_out);
  out->evicted = atomic_load(&cs->evicted);
}
