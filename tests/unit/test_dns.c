/* The resolver (lib/dns.c) against a real dnsmasq on a loopback port, and the
 * fingerprints (lib/infra.c) over what it answers: MX order, null MX, NODATA,
 * NXDOMAIN, CNAME'd MX hosts, the cache, coalescing, deadlines. */
#include "unit.h"

#include "uc/dns.h"
#include "uc/infra.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#define Z "dnsunit.net"

static char dir[64], server[32];
static pid_t dnsmasq;
static int hole = -1; /* the hole zone's server: MX of nodata-slowa.* NODATA, nothing else */
static pthread_t hole_thread;

/* Answers the MX query of a name starting "nodata-slowa." with NODATA and
 * drops every other query: a domain that exists without MX whose addresses
 * never come. */
static void *hole_serve(void *arg) {
  unsigned char q[512];
  struct sockaddr_in from;
  (void)arg;
  for (;;) {
    socklen_t fl = sizeof from;
    ssize_t n = recvfrom(hole, q, sizeof q, 0, (struct sockaddr *)&from, &fl);
    if (n <= 0)
      return NULL;
    size_t end = 12;
    while (end < (size_t)n && q[end])
      end += q[end] + 1u;
    if (n < 17 || end + 5 > (size_t)n || q[13] != 'n' || memcmp(q + 13, "nodata-slowa", 12) != 0 ||
        q[end + 1] != 0 || q[end + 2] != 15)
      continue;
    q[2] = 0x84 | (q[2] & 0x01), q[3] = 0x80; /* a response, authoritative, NOERROR */
    memset(q + 6, 0, 6);                      /* no answer, authority or additional */
    sendto(hole, q, end + 5, 0, (struct sockaddr *)&from, fl);
  }
}

static int free_udp_port(int keep, int *fd_out) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t n = sizeof a;
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) || getsockname(fd, (void *)&a, &n))
    return -1;
  if (keep)
    *fd_out = fd;
  else
    close(fd);
  return ntohs(a.sin_port);
}

/* A port free for UDP and TCP (dnsmasq listens on both). */
static int free_port(void) {
  for (int tries = 0; tries < 50; tries++) {
    int port = free_udp_port(0, NULL);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    a.sin_port = htons((uint16_t)port);
    int fd = socket(AF_INET, SOCK_STREAM, 0), ok = fd >= 0 && !bind(fd, (void *)&a, sizeof a);
    if (fd >= 0)
      close(fd);
    if (ok)
      return port;
  }
  return -1;
}

/* dnsmasq answers on port (1), exited (-1: the port was taken meanwhile;
 * reaped), or never answered (0). */
static int wait_up(int port) {
  static const unsigned char q[] = "\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
                                   "\x07"
                                   "dnsunit"
                                   "\x03"
                                   "net"
                                   "\x00\x00\x06\x00\x01";
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  struct timeval tv = {0, 100000};
  unsigned char r[512];
  a.sin_port = htons((uint16_t)port);
  int fd = socket(AF_INET, SOCK_DGRAM, 0), up = 0;
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  for (int i = 0; i < 100 && !up; i++) {
    if (waitpid(dnsmasq, NULL, WNOHANG) != 0) {
      up = -1;
      break;
    }
    sendto(fd, q, sizeof q - 1, 0, (void *)&a, sizeof a);
    up = recv(fd, r, sizeof r, 0) > 0;
  }
  close(fd);
  return up;
}

static int setup(void **state) {
  char conf[128];
  (void)state;
  snprintf(dir, sizeof dir, "/tmp/uc-dns-XXXXXX");
  int hport = mkdtemp(dir) ? free_udp_port(1, &hole) : -1;
  if (hport < 0)
    return -1;
  for (int attempt = 0; attempt < 5; attempt++) {
    int port = free_port();
    if (port < 0)
      return -1;
    snprintf(server, sizeof server, "127.0.0.1:%d", port);
    snprintf(conf, sizeof conf, "%s/dnsmasq.conf", dir);
    FILE *f = fopen(conf, "w");
    fprintf(f,
            "port=%d\nlisten-address=127.0.0.1\nbind-interfaces\nno-resolv\nno-hosts\n"
            "no-negcache\nlocal-ttl=300\nlocal=/" Z "/\nserver=/hole." Z "/127.0.0.1#%d\n"
            "mx-host=two." Z ",b." Z ",10\nmx-host=two." Z ",a." Z ",10\nmx-host=two." Z ",c." Z
            ",5\nhost-record=a." Z ",192.0.2.1\nhost-record=c." Z ",192.0.2.3,2001:db8::3\n"
            "host-record=aonly." Z ",192.0.2.9\ntxt-record=bare." Z ",x\n"
            "dns-rr=null." Z ",15,000000\nmx-host=cn." Z ",alias." Z ",1\ncname=alias." Z ",real." Z
            "\nhost-record=real." Z ",203.0.113.77\nmx-host=farm." Z ",mx.tempfarm.org,1\n"
            "mx-host=gws." Z ",aspmx.l.google.com,1\ncname=shop." Z ",aonly." Z "\n"
            "mx-host=dup." Z ",a." Z ",10\nmx-host=dup." Z ",a." Z ",20\n",
            port, hport);
    for (int i = 0; i < 64; i++) /* many domains, each with an MX of its own */
      fprintf(f, "mx-host=d%d.many." Z ",mx.d%d.many." Z ",1\n", i, i);
    fclose(f);
    dnsmasq = fork();
    if (dnsmasq == 0) {
      char arg[160];
      snprintf(arg, sizeof arg, "--conf-file=%s", conf);
      execlp("dnsmasq", "dnsmasq", "--keep-in-foreground", arg, "--pid-file=", (char *)NULL);
      _exit(127);
    }
    int up = dnsmasq > 0 ? wait_up(port) : -1;
    if (up > 0) {
      pthread_create(&hole_thread, NULL, hole_serve, NULL);
      return 0;
    }
    if (up == 0) {
      kill(dnsmasq, SIGKILL);
      waitpid(dnsmasq, NULL, 0);
    }
  }
  return -1;
}

static int teardown(void **state) {
  char cmd[128];
  (void)state;
  kill(dnsmasq, SIGTERM);
  waitpid(dnsmasq, NULL, 0);
  shutdown(hole, SHUT_RDWR); /* ends hole_serve's recvfrom */
  pthread_join(hole_thread, NULL);
  close(hole);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  return system(cmd);
}

/* A synchronous lookup: the wait is signalled by the resolver thread. */
struct sync {
  struct uc_dns_wait w;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int done;
};

static void woke(struct uc_dns_wait *w) {
  struct sync *s = w->arg;
  pthread_mutex_lock(&s->lock);
  s->done = 1;
  pthread_cond_signal(&s->cond);
  pthread_mutex_unlock(&s->lock);
}

static int lookup(uc_dns *d, const char *domain, unsigned deadline_ms, struct uc_dns_facts *f) {
  struct sync s = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
  s.w.done = woke, s.w.arg = &s, s.w.deadline_ms = uc_dns_now_ms() + deadline_ms;
  int rc = uc_dns_lookup(d, domain, &s.w, f);
  if (rc == UC_DNS_WAIT) {
    pthread_mutex_lock(&s.lock);
    while (!s.done)
      pthread_cond_wait(&s.cond, &s.lock);
    pthread_mutex_unlock(&s.lock);
    *f = s.w.facts;
  }
  return rc;
}

static uc_dns *open_dns_with(unsigned query_timeout_ms, size_t cache_max) {
  struct uc_dns_config c;
  uc_dns *d = NULL;
  char err[256];
  uc_dns_config_init(&c);
  c.query_timeout_ms = query_timeout_ms, c.cache_max = cache_max;
  assert_int_equal(uc_dns_config_server(&c, server), UC_OK);
  assert_int_equal(uc_dns_open(&c, &d, err, sizeof err), UC_OK);
  return d;
}

static uc_dns *open_dns(void) {
  return open_dns_with(1000, 16384);
}

static void test_answers(void **state) {
  (void)state;
  struct uc_dns_facts f;
  uc_dns *d = open_dns();
  assert_int_equal(lookup(d, "two." Z, 2000, &f), UC_DNS_WAIT);
  assert_int_equal(f.status, UC_DNS_ANSWERED);
  assert_int_equal(f.nmx, 3); /* preference, then name */
  assert_string_equal(uc_dns_mx_host(&f, 0), "c." Z);
  assert_string_equal(uc_dns_mx_host(&f, 1), "a." Z);
  assert_string_equal(uc_dns_mx_host(&f, 2), "b." Z);
  assert_int_equal(f.mx_pref[0], 5);
  assert_int_equal(f.naddr, 3); /* c: A and AAAA, a: A; b has none */
  assert_int_equal(f.addr[0].mx, 0);
  assert_int_equal(lookup(d, "two." Z, 2000, &f), UC_DNS_HIT); /* cached */
  assert_int_equal(lookup(d, "aonly." Z, 2000, &f), UC_DNS_WAIT);
  assert_true(f.status == UC_DNS_ANSWERED && f.nmx == 0 && f.has_address && !f.null_mx);
  lookup(d, "bare." Z, 2000, &f);
  assert_true(f.status == UC_DNS_ANSWERED && f.nmx == 0 && !f.has_address);
  lookup(d, "null." Z, 2000, &f);
  assert_true(f.status == UC_DNS_ANSWERED && f.null_mx && f.nmx == 0);
  lookup(d, "nope." Z, 2000, &f);
  assert_int_equal(f.status, UC_DNS_NXDOMAIN);
  lookup(d, "cn." Z, 2000, &f);
  assert_int_equal(f.naddr, 1);
  assert_memory_equal(f.addr[0].addr, "\xcb\x00\x71\x4d", 4); /* 203.0.113.77 through the CNAME */
  /* a CNAME to a name without MX: the MX answer holds no MX, the address counts */
  lookup(d, "shop." Z, 2000, &f);
  assert_true(f.status == UC_DNS_ANSWERED && f.nmx == 0 && f.has_address);
  lookup(d, "dup." Z, 2000, &f); /* one host at two preferences: once */
  assert_int_equal(f.nmx, 1);
  assert_int_equal(f.mx_pref[0], 10);
  uc_dns_free(d);
}

/* Exists without MX, and the A and AAAA never come: unknown, not "no
 * website" (which would call a real domain dead because a server was slow). */
static void test_unanswered_address_is_unknown(void **state) {
  (void)state;
  struct uc_dns_facts f;
  struct uc_dns_stats st;
  uc_dns *d = open_dns_with(200, 16384);
  assert_int_equal(lookup(d, "nodata-slowa.hole." Z, 5000, &f), UC_DNS_WAIT);
  assert_int_equal(f.status, UC_DNS_UNKNOWN);
  uc_dns_stats(d, &st);
  assert_int_equal(st.failures, 1);
  assert_int_equal(st.timeouts, 0); /* the resolver gave up, not the deadline */
  uc_dns_free(d);
}

/* A wait due sooner than the loop's next wake-up fires at its deadline, not
 * when c-ares next looks at the query in flight. */
static void test_sooner_deadline_wakes_the_resolver(void **state) {
  (void)state;
  struct uc_dns_facts f;
  uc_dns *d = open_dns_with(3000, 16384);
  assert_int_equal(uc_dns_lookup(d, "long.hole." Z, NULL, &f), UC_DNS_MISS);
  usleep(100000); /* the loop now sleeps until c-ares's retry, ~3 s away */
  uint64_t t0 = uc_dns_now_ms();
  assert_int_equal(lookup(d, "short.hole." Z, 50, &f), UC_DNS_WAIT);
  assert_int_equal(f.status, UC_DNS_UNKNOWN);
  assert_true(uc_dns_now_ms() - t0 < 1500);
  uc_dns_free(d);
}

static void *stop_later(void *arg) {
  usleep(100000);
  uc_dns_stop_waiting(arg);
  return NULL;
}

/* A server stopping: the waits fire now, and no new lookup waits. */
static void test_stop_waiting(void **state) {
  (void)state;
  struct uc_dns_facts f;
  pthread_t t;
  uc_dns *d = open_dns();
  pthread_create(&t, NULL, stop_later, d);
  uint64_t t0 = uc_dns_now_ms();
  assert_int_equal(lookup(d, "slow.hole." Z, 20000, &f), UC_DNS_WAIT);
  assert_int_equal(f.status, UC_DNS_UNKNOWN);
  assert_true(uc_dns_now_ms() - t0 < 10000);
  pthread_join(t, NULL);
  assert_int_equal(lookup(d, "other.hole." Z, 20000, &f), UC_DNS_HIT);
  assert_int_equal(f.status, UC_DNS_UNKNOWN);
  uc_dns_free(d);
}

/* Threads looking up 64 domains through a cache of 16: every answer is the
 * asked domain's (an entry evicted and its memory reused never receives
 * another domain's waits), and lookups beyond the bound in flight answer
 * "nothing known" at once rather than queue. */
struct churn {
  uc_dns *d;
  unsigned seed;
  int wrong, answered;
};

static void *churn_one(void *arg) {
  struct churn *c = arg;
  for (int i = 0; i < 400; i++) {
    char domain[64], want[80];
    struct uc_dns_facts f;
    int k = (int)(rand_r(&c->seed) % 64);
    snprintf(domain, sizeof domain, "d%d.many." Z, k);
    snprintf(want, sizeof want, "mx.%s", domain);
    lookup(c->d, domain, 3000, &f);
    if (f.status != UC_DNS_ANSWERED)
      continue;
    c->answered++;
    c->wrong += f.nmx != 1 || strcmp(uc_dns_mx_host(&f, 0), want) != 0;
  }
  return NULL;
}

static void test_small_cache_many_threads(void **state) {
  (void)state;
  struct churn c[6];
  pthread_t t[6];
  struct uc_dns_stats st;
  uc_dns *d = open_dns_with(1000, 16);
  for (int i = 0; i < 6; i++) {
    c[i] = (struct churn){d, (unsigned)i + 1, 0, 0};
    pthread_create(&t[i], NULL, churn_one, &c[i]);
  }
  int answered = 0;
  for (int i = 0; i < 6; i++) {
    pthread_join(t[i], NULL);
    assert_int_equal(c[i].wrong, 0);
    answered += c[i].answered;
  }
  uc_dns_stats(d, &st);
  assert_true(answered > 0);
  assert_true(st.cached <= 16 + 64); /* the bound, plus at most the lookups in flight */
  assert_true(st.in_flight == 0);
  uc_dns_free(d);
}

static void test_deadline_and_background(void **state) {
  (void)state;
  struct uc_dns_facts f;
  struct uc_dns_stats st;
  uc_dns *d = open_dns();
  uint64_t t0 = uc_dns_now_ms();
  assert_int_equal(lookup(d, "x.hole." Z, 150, &f), UC_DNS_WAIT);
  assert_int_equal(f.status, UC_DNS_UNKNOWN); /* the deadline came first */
  assert_true(uc_dns_now_ms() - t0 < 1500);   /* well before c-ares gives up */
  assert_int_equal(uc_dns_lookup(d, "farm." Z, NULL, &f), UC_DNS_MISS); /* no wait: started */
  for (int i = 0; i < 200 && uc_dns_lookup(d, "farm." Z, NULL, &f) != UC_DNS_HIT; i++)
    usleep(10000);
  assert_string_equal(uc_dns_mx_host(&f, 0), "mx.tempfarm.org");
  uc_dns_stats(d, &st);
  assert_true(st.timeouts >= 1 && st.started >= 2);
  uc_dns_free(d);
}

struct many {
  uc_dns *d;
  struct uc_dns_facts f;
};

static void *one(void *arg) {
  struct many *m = arg;
  lookup(m->d, "two." Z, 3000, &m->f);
  return NULL;
}

static void test_identical_lookups_are_one(void **state) {
  (void)state;
  struct many m[8];
  pthread_t t[8];
  struct uc_dns_stats st;
  uc_dns *d = open_dns();
  for (int i = 0; i < 8; i++) {
    m[i].d = d;
    pthread_create(&t[i], NULL, one, &m[i]);
  }
  for (int i = 0; i < 8; i++) {
    pthread_join(t[i], NULL);
    assert_string_equal(uc_dns_mx_host(&m[i].f, 0), "c." Z);
  }
  uc_dns_stats(d, &st);
  assert_int_equal(st.started, 1);
  assert_int_equal(st.queries, 1 + 2 * 3); /* MX, then A and AAAA of three hosts */
  uc_dns_free(d);
}

static void test_fingerprints(void **state) {
  (void)state;
  char path[128], err[256];
  struct uc_dns_facts f;
  struct uc_facts out;
  uc_infra *inf = NULL;
  snprintf(path, sizeof path, "%s/fp.txt", dir);
  FILE *fp = fopen(path, "w");
  fputs("# test\ndisposable mx tempfarm.org  # the farm\nshared mx google.com\n"
        "disposable ip 203.0.113.0/24 12\nrelay mx relay.example.net\n",
        fp);
  fclose(fp);
  const char *paths[] = {path};
  assert_int_equal(uc_infra_load(paths, NULL, 1, &inf, err, sizeof err), UC_OK);
  assert_int_equal(uc_infra_count(inf), 4);
  uc_dns *d = open_dns();
  lookup(d, "farm." Z, 2000, &f);
  uc_infra_facts(inf, &f, &out);
  assert_true(out.known && !out.no_website);
  assert_string_equal(out.masked.entry, "tempfarm.org");
  assert_string_equal(out.masked.evidence, "MX host of a disposable-mail service: the farm");
  lookup(d, "cn." Z, 2000, &f); /* by address */
  uc_infra_facts(inf, &f, &out);
  assert_string_equal(out.masked.entry, "203.0.113.0/24");
  assert_string_equal(out.masked.evidence, "MX address shared by 12 listed disposable domains");
  lookup(d, "gws." Z, 2000, &f);
  uc_infra_facts(inf, &f, &out);
  assert_null(out.masked.entry);
  lookup(d, "nope." Z, 2000, &f);
  uc_infra_facts(inf, &f, &out);
  assert_true(out.known && out.no_website);
  memset(&f, 0, sizeof f); /* nothing known: nothing decided */
  uc_infra_facts(inf, &f, &out);
  assert_false(out.known || out.no_website);
  uc_dns_free(d);
  uc_infra_unref(inf);
}

static void test_bad_files_and_servers(void **state) {
  (void)state;
  char path[128], err[256];
  struct uc_dns_config c;
  uc_infra *inf = NULL;
  snprintf(path, sizeof path, "%s/bad.txt", dir);
  FILE *fp = fopen(path, "w");
  fputs("disposable mx tempfarm.org\nsometimes mx x.org\n", fp);
  fclose(fp);
  const char *paths[] = {path, "/nonexistent/file"};
  int optional[] = {0, 1};
  assert_int_equal(uc_infra_load(paths, optional, 1, &inf, err, sizeof err), UC_EFORMAT);
  assert_non_null(strstr(err, "bad.txt:2"));
  assert_int_equal(uc_infra_load(paths + 1, optional + 1, 1, &inf, err, sizeof err), UC_OK);
  uc_infra_unref(inf);
  uc_dns_config_init(&c);
  assert_int_equal(uc_dns_config_server(&c, "[::1]:5353"), UC_OK);
  assert_string_equal(c.servers[0], "[::1]:5353");
  assert_int_equal(uc_dns_config_server(&c, "10.0.0.1"), UC_OK);
  assert_string_equal(c.servers[1], "10.0.0.1:53");
  assert_int_equal(uc_dns_config_server(&c, "resolver.example"), UC_EINVAL);
  assert_int_equal(uc_dns_config_server(&c, "10.0.0.1:99999"), UC_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_answers),
      cmocka_unit_test(test_deadline_and_background),
      cmocka_unit_test(test_unanswered_address_is_unknown),
      cmocka_unit_test(test_sooner_deadline_wakes_the_resolver),
      cmocka_unit_test(test_stop_waiting),
      cmocka_unit_test(test_small_cache_many_threads),
      cmocka_unit_test(test_identical_lookups_are_one),
      cmocka_unit_test(test_fingerprints),
      cmocka_unit_test(test_bad_files_and_servers),
  };
  return cmocka_run_group_tests_name("dns", tests, setup, teardown);
}
