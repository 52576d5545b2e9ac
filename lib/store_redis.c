/* The shared store: Redis through hiredis (key layout: docs/internals/store.md).
 *
 * Several server processes use one Redis: every write that touches more than
 * one key is one Lua script (lib/store_redis_lua.h), so it is atomic for the
 * others; a ban is counted by one script (exact across processes). Calls come
 * from many threads: each takes a connection from a small pool for the length
 * of one command. When Redis cannot be reached, calls fail with
 * UC_EUNAVAILABLE, and at once (no connect attempt) until the backoff (50 ms,
 * doubling to 1 s) has passed; the next call after it reconnects. */
#include "store_int.h"
#include "store_redis_lua.h"
#include "uc/aliases.h"
#include "uc/buf.h"
#include "uc/date.h"
#include "uc/error.h"

#include <ctype.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SCHEMA_VERSION 1
#define POOL 8
#define CONNECT_TIMEOUT_MS 1000
#define COMMAND_TIMEOUT_MS 2000
#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 1000
#define BATCH 1000 /* rows per round trip where a listing may be long */

/* ---- redis://[[user]:password@]host[:port][/db][?prefix=NAME] ---- */

static int hexval(int c) {
  return c >= '0' && c <= '9'   ? c - '0'
         : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                : -1;
}

/* Percent-decodes p[0..n) into out (size > n). UC_OK or UC_EINVAL. */
static int unescape(const char *p, size_t n, char *out, size_t size) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    int c = (unsigned char)p[i];
    if (c == '%') {
      if (i + 2 >= n)
        return UC_EINVAL;
      int hi = hexval(p[i + 1]), lo = hexval(p[i + 2]);
      if (hi < 0 || lo < 0)
        return UC_EINVAL;
      c = hi * 16 + lo, i += 2;
    }
    if (c == 0 || o + 1 >= size)
      return UC_EINVAL;
    out[o++] = (char)c;
  }
  out[o] = 0;
  return UC_OK;
}

/* A decimal number in lo..hi made of p[0..n), all digits. */
static int number(const char *p, size_t n, long lo, long hi, int *out) {
  long v = 0;
  if (n == 0 || n > 9)
    return UC_EINVAL;
  for (size_t i = 0; i < n; i++) {
    if (!isdigit((unsigned char)p[i]))
      return UC_EINVAL;
    v = v * 10 + (p[i] - '0');
  }
  if (v < lo || v > hi)
    return UC_EINVAL;
  *out = (int)v;
  return UC_OK;
}

static int url_userinfo(const char *p, size_t n, struct uc__redis_url *u, char *err, size_t es) {
  const char *colon = memchr(p, ':', n);
  if (!colon)
    return uc_errorf(err, es, UC_EINVAL,
                     "give the password after a colon: redis://:PASSWORD@host or "
                     "redis://USER:PASSWORD@host");
  if (unescape(p, (size_t)(colon - p), u->user, sizeof u->user) ||
      unescape(colon + 1, n - (size_t)(colon - p) - 1, u->password, sizeof u->password))
    return uc_errorf(err, es, UC_EINVAL, "bad user or password (too long, or a bad %%XX escape)");
  if (u->user[0] && !u->password[0])
    return uc_errorf(err, es, UC_EINVAL, "user '%s' has no password", u->user);
  return UC_OK;
}

/* host[:port] or [v6][:port]. */
static int url_host(const char *p, size_t n, struct uc__redis_url *u, char *err, size_t es) {
  const char *host = p, *port = NULL;
  size_t hn = n;
  if (n && p[0] == '[') {
    const char *close = memchr(p, ']', n);
    if (!close || close == p + 1)
      return uc_errorf(err, es, UC_EINVAL, "an IPv6 address needs its closing ']'");
    host = p + 1, hn = (size_t)(close - p) - 1;
    if (close + 1 < p + n && close[1] != ':')
      return uc_errorf(err, es, UC_EINVAL, "expected ':PORT' after ']'");
    port = close + 1 < p + n ? close + 2 : NULL;
  } else {
    const char *colon = memchr(p, ':', n);
    if (colon)
      hn = (size_t)(colon - p), port = colon + 1;
  }
  if (hn == 0 || hn >= sizeof u->host)
    return uc_errorf(err, es, UC_EINVAL, "no host (or a host name over 255 characters)");
  for (size_t i = 0; i < hn; i++)
    if (!isalnum((unsigned char)host[i]) && !strchr(p[0] == '[' ? ":." : ".-_", host[i]))
      return uc_errorf(err, es, UC_EINVAL, "'%.*s' is not a host name or address", (int)hn, host);
  memcpy(u->host, host, hn);
  u->host[hn] = 0;
  if (port && number(port, (size_t)(p + n - port), 1, 65535, &u->port))
    return uc_errorf(err, es, UC_EINVAL, "the port must be a number from 1 to 65535");
  return UC_OK;
}

/* "/db" and "?prefix=NAME". */
static int url_tail(const char *p, size_t n, struct uc__redis_url *u, char *err, size_t es) {
  const char *q = memchr(p, '?', n);
  size_t pn = q ? (size_t)(q - p) : n;
  if (pn > 1 && number(p + 1, pn - 1, 0, 1000000, &u->db))
    return uc_errorf(err, es, UC_EINVAL, "the database after '/' must be a number (0, 1, ...)");
  if (!q)
    return UC_OK;
  const char *v = q + 1;
  size_t vn = n - pn - 1;
  if (vn < 8 || memcmp(v, "prefix=", 7) != 0)
    return uc_errorf(err, es, UC_EINVAL, "the only query parameter is prefix=NAME");
  v += 7, vn -= 7;
  if (vn >= sizeof u->prefix)
    return uc_errorf(err, es, UC_EINVAL, "the prefix is longer than 63 characters");
  for (size_t i = 0; i < vn; i++)
    if (!isalnum((unsigned char)v[i]) && !strchr("_.-", v[i]))
      return uc_errorf(err, es, UC_EINVAL, "the prefix may hold letters, digits, '_', '.', '-'");
  memcpy(u->prefix, v, vn);
  u->prefix[vn] = 0;
  return UC_OK;
}

int uc__redis_url_parse(const char *target, int tls, struct uc__redis_url *u, char *err,
                        size_t es) {
  memset(u, 0, sizeof *u);
  u->port = 6379, u->tls = tls;
  snprintf(u->prefix, sizeof u->prefix, "uc");
  size_t n = strlen(target);
  const char *at = memrchr(target, '@', n), *host = at ? at + 1 : target;
  if (at && url_userinfo(target, (size_t)(at - target), u, err, es))
    return UC_EINVAL;
  size_t rest = n - (size_t)(host - target);
  size_t hn = strcspn(host, "/?");
  if (url_host(host, hn, u, err, es) || url_tail(host + hn, rest - hn, u, err, es))
    return UC_EINVAL;
  return UC_OK;
}

/* ---- connections ---- */

struct conn {
  redisContext *c; /* NULL: not connected */
  int busy;
};

struct rd {
  struct uc__redis_url url;
  char where[400]; /* host:port/db (prefix), for messages */
  char origin[24]; /* this handle's, in the change feed */
  pthread_mutex_t lock;
  pthread_cond_t idle;
  struct conn pool[POOL];
  int64_t retry_at; /* monotonic ms: no connect attempt before it */
  unsigned backoff; /* ms; 0 while connected */
  char down[160];   /* why the last connect failed */
  char sha[RS_COUNT][41];
};

#define UC__REDIS_SCRIPT_BODY(name, body) LUA_PRELUDE body,
static const char *const scripts[RS_COUNT] = {UC_REDIS_SCRIPTS(UC__REDIS_SCRIPT_BODY)};
#undef UC__REDIS_SCRIPT_BODY

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct timeval tv_ms(int ms) {
  return (struct timeval){ms / 1000, (ms % 1000) * 1000};
}

/* Replies Redis gives while it cannot serve: the same as being unreachable. */
static int transient(const char *msg) {
  static const char *const codes[] = {"LOADING", "BUSY", "MASTERDOWN", "READONLY", "TRYAGAIN"};
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
    if (strncmp(msg, codes[i], strlen(codes[i])) == 0)
      return 1;
  return 0;
}

/* A command on a fresh connection (AUTH, SELECT): UC_OK or the error in why. */
static int setup_cmd(redisContext *c, int argc, const char **argv, char *why, size_t ws) {
  redisReply *r = redisCommandArgv(c, argc, argv, NULL);
  int rc = r && r->type != REDIS_REPLY_ERROR ? UC_OK : UC_EUNAVAILABLE;
  if (rc)
    snprintf(why, ws, "%s", r ? r->str : c->errstr);
  freeReplyObject(r);
  return rc;
}

static int connect_one(struct rd *s, redisContext **out, char *why, size_t ws) {
  redisContext *c = redisConnectWithTimeout(s->url.host, s->url.port, tv_ms(CONNECT_TIMEOUT_MS));
  char db[16];
  int rc = UC_OK;
  *out = NULL;
  if (!c || c->err) {
    snprintf(why, ws, "%s", c ? c->errstr : "out of memory");
    redisFree(c);
    return UC_EUNAVAILABLE;
  }
  redisSetTimeout(c, tv_ms(COMMAND_TIMEOUT_MS));
  redisEnableKeepAlive(c);
  if (s->url.password[0]) {
    const char *auth[] = {"AUTH", s->url.user, s->url.password};
    rc = s->url.user[0] ? setup_cmd(c, 3, auth, why, ws)
                        : setup_cmd(c, 2, (const char *[]){"AUTH", s->url.password}, why, ws);
  }
  snprintf(db, sizeof db, "%d", s->url.db);
  if (rc == UC_OK && s->url.db)
    rc = setup_cmd(c, 2, (const char *[]){"SELECT", db}, why, ws);
  if (rc) {
    redisFree(c);
    return rc;
  }
  *out = c;
  return UC_OK;
}

/* With s->lock held: an idle connection (connected ones first); NULL: none. */
static struct conn *pick(struct rd *s) {
  struct conn *empty = NULL;
  for (int i = 0; i < POOL; i++) {
    if (s->pool[i].busy)
      continue;
    if (s->pool[i].c)
      return &s->pool[i];
    if (!empty)
      empty = &s->pool[i];
  }
  return empty;
}

/* Gives c back. A broken connection is dropped, and so are the idle ones:
 * when one broke (Redis restarted, a failover) the others usually did too,
 * and each would fail one more call. */
static void release(struct rd *s, struct conn *c, int broken) {
  pthread_mutex_lock(&s->lock);
  for (int i = 0; broken && i < POOL; i++)
    if (&s->pool[i] == c || !s->pool[i].busy) {
      redisFree(s->pool[i].c);
      s->pool[i].c = NULL;
    }
  c->busy = 0;
  pthread_cond_signal(&s->idle);
  pthread_mutex_unlock(&s->lock);
}

/* A connection for one command, connected; NULL and *rc when Redis cannot be
 * reached (at once while the backoff lasts). */
static struct conn *acquire(struct rd *s, int *rc) {
  struct conn *c;
  char why[160];
  pthread_mutex_lock(&s->lock);
  while (!(c = pick(s)))
    pthread_cond_wait(&s->idle, &s->lock);
  c->busy = 1;
  if (c->c) {
    pthread_mutex_unlock(&s->lock);
    return c;
  }
  int64_t wait = s->retry_at - mono_ms();
  if (wait > 0) {
    snprintf(why, sizeof why, "%s", s->down);
    pthread_mutex_unlock(&s->lock);
    release(s, c, 0);
    *rc = uc__store_errorf(UC_EUNAVAILABLE, "redis %s is unreachable (%s); next attempt in %lld ms",
                           s->where, why, (long long)wait);
    return NULL;
  }
  pthread_mutex_unlock(&s->lock);
  redisContext *rc_ctx = NULL;
  int ret = connect_one(s, &rc_ctx, why, sizeof why);
  pthread_mutex_lock(&s->lock);
  if (ret == UC_OK) {
    c->c = rc_ctx, s->backoff = 0, s->retry_at = 0;
  } else {
    s->backoff = s->backoff ? s->backoff * 2 : BACKOFF_MIN_MS;
    if (s->backoff > BACKOFF_MAX_MS)
      s->backoff = BACKOFF_MAX_MS;
    s->retry_at = mono_ms() + s->backoff;
    snprintf(s->down, sizeof s->down, "%s", why);
  }
  pthread_mutex_unlock(&s->lock);
  if (ret == UC_OK)
    return c;
  release(s, c, 0);
  *rc = uc__store_errorf(ret, "redis %s: %s", s->where, why);
  return NULL;
}

/* ---- commands ---- */

/* A command's arguments, built up: bytes back to back, and their lengths. */
struct args {
  struct uc_buf text, lens;
  int failed;
};

static void args_init(struct args *a, const struct rd *s) {
  uc_buf_init(&a->text, (size_t)1 << 30);
  uc_buf_init(&a->lens, (size_t)1 << 28);
  a->failed = 0;
  if (s) { /* every script's ARGV[1] */
    size_t n = strlen(s->url.prefix);
    a->failed = uc_buf_add(&a->text, s->url.prefix, n) || uc_buf_add(&a->lens, &n, sizeof n);
  }
}

static void args_release(struct args *a) {
  uc_buf_release(&a->text);
  uc_buf_release(&a->lens);
}

static void arg(struct args *a, const void *p, size_t n) {
  if (uc_buf_add(&a->text, p, n) || uc_buf_add(&a->lens, &n, sizeof n))
    a->failed = 1;
}

static void arg_s(struct args *a, const char *s) {
  arg(a, s, strlen(s));
}

static void arg_i(struct args *a, int64_t v) {
  char b[24];
  arg(a, b, (size_t)snprintf(b, sizeof b, "%lld", (long long)v));
}

static void arg_hex(struct args *a, const uint8_t *p, size_t n) {
  char h[2 * 32 + 1];
  sodium_bin2hex(h, sizeof h, p, n);
  arg(a, h, 2 * n);
}

/* Runs head[0..nh) followed by a's arguments. The reply (an error reply
 * included, for the caller to look at), or NULL and *rc. */
static redisReply *send_argv(struct rd *s, const char *const *head, const size_t *hlen, int nh,
                             const struct args *a, int *rc) {
  size_t n = a ? UC_BUF_COUNT(&a->lens, size_t) : 0, off = 0;
  const char **argv = malloc((n + (size_t)nh) * sizeof *argv);
  size_t *lens = malloc((n + (size_t)nh) * sizeof *lens);
  redisReply *r = NULL;
  if (!argv || !lens || (a && a->failed)) {
    *rc = uc__store_errorf(UC_ENOMEM, "out of memory");
    goto out;
  }
  for (int i = 0; i < nh; i++)
    argv[i] = head[i], lens[i] = hlen[i];
  for (size_t i = 0; i < n; i++) {
    lens[nh + i] = UC_BUF_AT(&a->lens, size_t, i);
    argv[nh + i] = lens[nh + i] ? a->text.data + off : "";
    off += lens[nh + i];
  }
  struct conn *c = acquire(s, rc);
  if (!c)
    goto out;
  r = redisCommandArgv(c->c, (int)(n + (size_t)nh), argv, lens);
  if (!r)
    *rc = uc__store_errorf(UC_EUNAVAILABLE, "redis %s: %s", s->where,
                           c->c->errstr[0] ? c->c->errstr : "connection lost");
  release(s, c, r == NULL); /* a broken connection is made again next time */
out:
  free(argv);
  free(lens);
  return r;
}

/* An error reply as UC_ESTORE (UC_EUNAVAILABLE while Redis cannot serve). */
static int reply_error(struct rd *s, const redisReply *r) {
  return uc__store_errorf(transient(r->str) ? UC_EUNAVAILABLE : UC_ESTORE, "redis %s: %s", s->where,
                          r->str);
}

/* A plain command: the reply, or NULL and *rc. */
#define COMMAND_ARGS 16
static redisReply *command(struct rd *s, int *rc, int argc, const char **argv) {
  size_t lens[COMMAND_ARGS];
  if (argc > COMMAND_ARGS)
    return *rc = UC_EINVAL, NULL;
  for (int i = 0; i < argc; i++)
    lens[i] = strlen(argv[i]);
  redisReply *r = send_argv(s, argv, lens, argc, NULL, rc);
  if (r && r->type == REDIS_REPLY_ERROR) {
    *rc = reply_error(s, r);
    freeReplyObject(r);
    r = NULL;
  }
  return r;
}

/* The script's SHA1 as Redis computes it (SCRIPT LOAD, once per handle). */
static int script_sha(struct rd *s, enum redis_script id, char sha[41]) {
  int rc = UC_OK;
  pthread_mutex_lock(&s->lock);
  snprintf(sha, 41, "%s", s->sha[id]);
  pthread_mutex_unlock(&s->lock);
  if (sha[0])
    return UC_OK;
  redisReply *r = command(s, &rc, 3, (const char *[]){"SCRIPT", "LOAD", scripts[id]});
  if (r && r->type == REDIS_REPLY_STRING && r->len == 40) {
    memcpy(sha, r->str, 41);
    pthread_mutex_lock(&s->lock);
    memcpy(s->sha[id], sha, 41);
    pthread_mutex_unlock(&s->lock);
  } else if (r) {
    rc = uc__store_errorf(UC_ESTORE, "redis %s: SCRIPT LOAD gave no SHA1", s->where);
  }
  freeReplyObject(r);
  return rc;
}

/* Runs a script with a's arguments (EVALSHA; EVAL when Redis lost its
 * script cache, e.g. after a restart). The reply, or NULL and *rc. */
static redisReply *eval(struct rd *s, enum redis_script id, const struct args *a, int *rc) {
  char sha[41];
  if ((*rc = script_sha(s, id, sha)) != UC_OK)
    return NULL;
  const char *head[] = {"EVALSHA", sha, "0"};
  size_t hlen[] = {7, 40, 1};
  redisReply *r = send_argv(s, head, hlen, 3, a, rc);
  if (r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0) {
    freeReplyObject(r);
    head[0] = "EVAL", head[1] = scripts[id];
    hlen[0] = 4, hlen[1] = strlen(scripts[id]);
    r = send_argv(s, head, hlen, 3, a, rc);
  }
  if (r && r->type == REDIS_REPLY_ERROR) {
    *rc = reply_error(s, r);
    freeReplyObject(r);
    r = NULL;
  }
  return r;
}

/* Runs a script whose result is a status (an integer, or {status, ...}): UC_OK
 * or the uc_err it returned; *out (may be NULL) keeps the reply. */
static int eval_status(struct rd *s, enum redis_script id, struct args *a, redisReply **out) {
  int rc = UC_OK;
  redisReply *r = eval(s, id, a, &rc);
  args_release(a);
  if (out)
    *out = NULL;
  if (!r)
    return rc;
  const redisReply *st = r->type == REDIS_REPLY_ARRAY && r->elements ? r->element[0] : r;
  rc = st->type == REDIS_REPLY_INTEGER && st->integer < 0 ? (int)st->integer : UC_OK;
  if (out && rc == UC_OK)
    *out = r;
  else
    freeReplyObject(r);
  return rc;
}

/* ---- replies ---- */

static const redisReply *at(const redisReply *r, size_t i) {
  return r && r->type == REDIS_REPLY_ARRAY && i < r->elements ? r->element[i] : NULL;
}

static size_t count(const redisReply *r) {
  return r && r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
}

/* An integer reply or a bulk string holding one; 0 otherwise. */
static int64_t num(const redisReply *r) {
  if (r && r->type == REDIS_REPLY_INTEGER)
    return r->integer;
  if (r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS))
    return strtoll(r->str, NULL, 10); /* hiredis NUL-terminates bulk strings */
  return 0;
}

static const char *text(const redisReply *r) {
  return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) ? r->str : "";
}

static void copy_text(char *dst, size_t size, const redisReply *r) {
  snprintf(dst, size, "%s", text(r));
}

/* Decodes a hex bulk string of exactly n bytes; 0 when it is not one. */
static int unhex(const redisReply *r, uint8_t *out, size_t n) {
  size_t got = 0;
  return r && r->type == REDIS_REPLY_STRING && r->len == 2 * n &&
         sodium_hex2bin(out, n, r->str, r->len, NULL, &got, NULL) == 0 && got == n;
}

/* ---- opening ---- */

static void rd_free(struct rd *s) {
  for (int i = 0; i < POOL; i++)
    redisFree(s->pool[i].c);
  pthread_mutex_destroy(&s->lock);
  pthread_cond_destroy(&s->idle);
  free(s);
}

static int check_schema(struct rd *s, unsigned flags, char *err, size_t es) {
  struct args a;
  int rc = UC_OK;
  args_init(&a, s);
  arg_s(&a, flags & UC_STORE_CREATE ? "1" : "0");
  redisReply *r = eval(s, RS_OPEN, &a, &rc);
  args_release(&a);
  int64_t v = r ? num(r) : 0;
  freeReplyObject(r);
  if (!r) {
    char why[300];
    uc_store_error(NULL, rc, why, sizeof why);
    if (strstr(why, "EXPIRETIME"))
      return uc_errorf(err, es, UC_ESTORE, "redis %s: needs Redis 7.0 or newer (%s)", s->where,
                       why);
    return uc_errorf(err, es, rc, "%s", why);
  }
  if (v == UC_ENOTFOUND)
    return uc_errorf(err, es, UC_ENOTFOUND, "no store at redis %s", s->where);
  if (v > SCHEMA_VERSION)
    return uc_errorf(err, es, UC_ESTORE,
                     "redis %s holds a store of schema %lld, newer than this "
                     "build (%d)",
                     s->where, (long long)v, SCHEMA_VERSION);
  return UC_OK;
}

static int rd_open(const char *target, unsigned flags, uint64_t origin, void **state, char *err,
                   size_t es) {
  struct rd *s = calloc(1, sizeof *s);
  if (!s)
    return uc_errorf(err, es, UC_ENOMEM, "out of memory");
  pthread_mutex_init(&s->lock, NULL);
  pthread_cond_init(&s->idle, NULL);
  int rc = uc__redis_url_parse(target, 0, &s->url, err, es);
  if (rc) { /* never the URL itself in the message: it may hold a password */
    char why[256];
    snprintf(why, sizeof why, "%s", err);
    uc_errorf(err, es, rc, "bad redis:// URL: %s", why);
    rd_free(s);
    return rc;
  }
  snprintf(s->where, sizeof s->where, "%s:%d/%d (prefix %s)", s->url.host, s->url.port, s->url.db,
           s->url.prefix);
  snprintf(s->origin, sizeof s->origin, "%llu", (unsigned long long)origin);
  if ((rc = check_schema(s, flags, err, es)) != UC_OK) {
    rd_free(s);
    return rc;
  }
  *state = s;
  return UC_OK;
}

static void rd_close(void *state) {
  if (state)
    rd_free(state);
}

/* rediss:// (TLS) needs hiredis 1.0 or newer built with TLS (hiredis_ssl). */
static int rediss_open(const char *target, unsigned flags, uint64_t origin, void **state, char *err,
                       size_t es) {
  (void)target, (void)flags, (void)origin, (void)state;
  return uc_errorf(err, es, UC_EINVAL,
                   "rediss:// (Redis over TLS) needs hiredis 1.0 or newer built with TLS "
                   "(libhiredis_ssl); this build has hiredis %d.%d.%d, which has no TLS. Use "
                   "redis:// on a private network, or a TLS tunnel (stunnel, spiped) to Redis",
                   HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH);
}

/* The version counter, and whether the store is still there: a Redis that
 * lost its data (no persistence, a flushed database) would otherwise look
 * like a store whose every key was revoked, and servers would drop the view
 * they hold. */
static int rd_version(void *state, uint64_t *v) {
  struct rd *s = state;
  char version[80], schema[80];
  int rc = UC_OK;
  snprintf(version, sizeof version, "%s:version", s->url.prefix);
  snprintf(schema, sizeof schema, "%s:schema", s->url.prefix);
  redisReply *r = command(s, &rc, 3, (const char *[]){"MGET", version, schema});
  *v = r ? (uint64_t)num(at(r, 0)) : 0;
  if (r && (!at(r, 1) || at(r, 1)->type != REDIS_REPLY_STRING))
    rc = uc__store_errorf(UC_EUNAVAILABLE,
                          "redis %s holds no store any more (did Redis lose its data? restore it: "
                          "docs/deploy.md); servers keep the keys they hold",
                          s->where);
  freeReplyObject(r);
  return rc;
}

/* ---- accounts ---- */

static int account_add(struct rd *s, int64_t id, const char *name, int64_t created_at,
                       int64_t *out_id) {
  struct args a;
  redisReply *r;
  args_init(&a, s);
  arg_i(&a, id);
  arg_s(&a, name);
  arg_i(&a, created_at);
  int rc = eval_status(s, RS_ACCOUNT_ADD, &a, &r);
  if (rc == UC_OK)
    *out_id = num(at(r, 1));
  freeReplyObject(r);
  return rc;
}

static int rd_account_create(void *state, const char *name, struct uc_account_rec *out) {
  int64_t now = (int64_t)time(NULL), id = 0;
  int rc = account_add(state, 0, name, now, &id);
  if (rc == UC_OK) {
    out->id = id, out->created_at = now;
    snprintf(out->name, sizeof out->name, "%s", name);
  }
  return rc;
}

static int rd_account_put(void *state, const struct uc_account_rec *a) {
  int64_t id;
  return account_add(state, a->id, a->name, a->created_at, &id);
}

static int rd_account_get(void *state, const char *name, struct uc_account_rec *out) {
  struct rd *s = state;
  struct args a;
  int rc = UC_OK;
  args_init(&a, s);
  arg_s(&a, "account_names");
  arg_s(&a, name);
  arg_s(&a, "account:");
  arg_s(&a, "name");
  arg_s(&a, "created_at");
  redisReply *r = eval(s, RS_FIND, &a, &rc);
  args_release(&a);
  if (!r)
    return rc;
  rc = count(r) == 3 ? UC_OK : UC_ENOTFOUND;
  if (rc == UC_OK) {
    out->id = num(at(r, 0));
    copy_text(out->name, sizeof out->name, at(r, 1));
    out->created_at = num(at(r, 2));
  }
  freeReplyObject(r);
  return rc;
}

/* Rows of a ROWS or FIND reply: id then nfields values each. */
typedef int (*row_fn)(const redisReply *const *f, void *ctx); /* f[0] is the id */

static int each_row(const redisReply *r, size_t nfields, row_fn fn, void *ctx) {
  for (size_t i = 0; i + nfields < count(r); i += nfields + 1)
    if (fn((const redisReply *const *)&r->element[i], ctx))
      break;
  return UC_OK;
}

/* Runs ROWS over index (a zset of ids) and calls fn on each row. */
static int rows(struct rd *s, const char *index, const char *prefix, int rev, int64_t limit,
                const char *const *fields, size_t nfields, row_fn fn, void *ctx) {
  struct args a;
  int rc = UC_OK;
  args_init(&a, s);
  arg_s(&a, index);
  arg_s(&a, prefix);
  arg_s(&a, rev ? "1" : "0");
  arg_i(&a, limit);
  for (size_t i = 0; i < nfields; i++)
    arg_s(&a, fields[i]);
  redisReply *r = eval(s, RS_ROWS, &a, &rc);
  args_release(&a);
  if (r)
    rc = each_row(r, nfields, fn, ctx);
  freeReplyObject(r);
  return rc;
}

struct visit {
  void *cb, *arg;
};

static int account_row(const redisReply *const *f, void *ctx) {
  struct visit *v = ctx;
  struct uc_account_rec a = {.id = num(f[0]), .created_at = num(f[2])};
  copy_text(a.name, sizeof a.name, f[1]);
  return ((uc_account_cb)v->cb)(v->arg, &a);
}

static int rd_account_each(void *state, uc_account_cb cb, void *arg) {
  static const char *const fields[] = {"name", "created_at"};
  struct visit v = {(void *)cb, arg};
  return rows(state, "accounts", "account:", 0, -1, fields, 2, account_row, &v);
}

/* ---- keys ---- */

static const char *const key_fields[] = {
    "account_id", "name",         "type",       "prefix",          "hash",
    "created_at", "last_used_at", "revoked_at", "rate_per_second", "rate_burst"};
#define NKEY_FIELDS (sizeof key_fields / sizeof key_fields[0])

/* f[0..10]: the id, then key_fields. 0 when the row is not a key. */
static int read_key(const redisReply *const *f, struct uc_key_rec *k) {
  memset(k, 0, sizeof *k);
  if (!f[5] || f[5]->type != REDIS_REPLY_STRING || f[5]->len != UC_KEY_HASH_LEN)
    return 0; /* gone (or never a key) */
  k->id = num(f[0]);
  k->account_id = num(f[1]);
  copy_text(k->name, sizeof k->name, f[2]);
  if (uc_key_type_parse(text(f[3]), &k->type) != UC_OK)
    return 0;
  copy_text(k->prefix, sizeof k->prefix, f[4]);
  memcpy(k->hash, f[5]->str, UC_KEY_HASH_LEN);
  k->created_at = num(f[6]);
  k->last_used_at = num(f[7]);
  k->revoked_at = num(f[8]);
  k->rate_per_second = (uint32_t)num(f[9]);
  k->rate_burst = (uint32_t)num(f[10]);
  return 1;
}

static int key_add(struct rd *s, const struct uc_key_rec *k, int64_t id, int64_t *out_id) {
  struct args a;
  redisReply *r;
  args_init(&a, s);
  arg_i(&a, id);
  arg_i(&a, k->account_id);
  arg_s(&a, k->name);
  arg_s(&a, uc_key_type_name(k->type));
  arg_s(&a, k->prefix);
  arg(&a, k->hash, UC_KEY_HASH_LEN);
  arg_i(&a, k->created_at);
  arg_i(&a, id ? k->last_used_at : 0);
  arg_i(&a, id ? k->revoked_at : 0);
  arg_i(&a, k->rate_per_second);
  arg_i(&a, k->rate_burst);
  int rc = eval_status(s, RS_KEY_ADD, &a, &r);
  if (rc == UC_OK)
    *out_id = num(at(r, 1));
  freeReplyObject(r);
  return rc;
}

static int rd_key_insert(void *state, struct uc_key_rec *k) {
  return key_add(state, k, 0, &k->id);
}

static int rd_key_put(void *state, const struct uc_key_rec *k) {
  int64_t id;
  return key_add(state, k, k->id, &id);
}

static int key_row(const redisReply *const *f, void *ctx) {
  struct visit *v = ctx;
  struct uc_key_rec k;
  return read_key(f, &k) ? ((uc_key_cb)v->cb)(v->arg, &k) : 0;
}

static int rd_key_each(void *state, int64_t account_id, uc_key_cb cb, void *arg) {
  struct visit v = {(void *)cb, arg};
  char index[32] = "keys";
  if (account_id)
    snprintf(index, sizeof index, "keys:%lld", (long long)account_id);
  return rows(state, index, "key:", 0, -1, key_fields, NKEY_FIELDS, key_row, &v);
}

static int rd_key_by_hash(void *state, const uint8_t hash[UC_KEY_HASH_LEN],
                          struct uc_key_rec *out) {
  struct rd *s = state;
  struct args a;
  int rc = UC_OK;
  args_init(&a, s);
  arg_s(&a, "key_hashes");
  arg(&a, hash, UC_KEY_HASH_LEN);
  arg_s(&a, "key:");
  for (size_t i = 0; i < NKEY_FIELDS; i++)
    arg_s(&a, key_fields[i]);
  redisReply *r = eval(s, RS_FIND, &a, &rc);
  args_release(&a);
  if (!r)
    return rc;
  rc = count(r) == NKEY_FIELDS + 1 && read_key((const redisReply *const *)r->element, out)
           ? UC_OK
           : UC_ENOTFOUND;
  freeReplyObject(r);
  return rc;
}

static int rd_key_get(void *state, int64_t account_id, int64_t key_id, struct uc_key_rec *out) {
  struct rd *s = state;
  int rc = UC_OK;
  char key[128];
  snprintf(key, sizeof key, "%s:key:%lld", s->url.prefix, (long long)key_id);
  const char *argv[2 + NKEY_FIELDS] = {"HMGET", key};
  for (size_t i = 0; i < NKEY_FIELDS; i++)
    argv[2 + i] = key_fields[i];
  redisReply *r = command(s, &rc, 2 + (int)NKEY_FIELDS, argv);
  if (!r)
    return rc;
  const redisReply *f[NKEY_FIELDS + 1] = {NULL};
  redisReply idr = {.type = REDIS_REPLY_INTEGER, .integer = key_id};
  f[0] = &idr;
  for (size_t i = 0; i < NKEY_FIELDS; i++)
    f[1 + i] = at(r, i);
  rc = read_key(f, out) && out->account_id == account_id && !out->revoked_at ? UC_OK : UC_ENOTFOUND;
  freeReplyObject(r);
  return rc;
}

static int rd_key_revoke(void *state, int64_t account_id, int64_t key_id, int64_t when) {
  struct rd *s = state;
  struct args a;
  args_init(&a, s);
  arg_i(&a, account_id);
  arg_i(&a, key_id);
  arg_i(&a, when);
  return eval_status(s, RS_KEY_REVOKE, &a, NULL);
}

static int rd_key_update(void *state, const struct uc_key_rec *k) {
  struct rd *s = state;
  struct args a;
  args_init(&a, s);
  arg_i(&a, k->account_id);
  arg_i(&a, k->id);
  arg_s(&a, k->name);
  arg_s(&a, uc_key_type_name(k->type));
  arg_s(&a, k->prefix);
  arg(&a, k->hash, UC_KEY_HASH_LEN);
  arg_i(&a, k->rate_per_second);
  arg_i(&a, k->rate_burst);
  return eval_status(s, RS_KEY_UPDATE, &a, NULL);
}

static int rd_key_touch(void *state, int64_t key_id, int64_t when) {
  struct rd *s = state;
  struct args a;
  args_init(&a, s);
  arg_i(&a, key_id);
  arg_i(&a, when);
  return eval_status(s, RS_KEY_TOUCH, &a, NULL);
}

/* ---- usage ---- */

/* The arguments of usage rows: (key, day, category, count, last_used)... */
static void usage_args(struct args *a, const struct uc_usage_delta *d, size_t n) {
  for (size_t i = 0; i < n; i++) {
    char day[11];
    uc_date_format(d[i].day, day);
    arg_i(a, d[i].key_id);
    arg_s(a, day);
    arg_s(a, uc_usage_outcome_name(d[i].outcome));
    arg_i(a, (int64_t)d[i].count);
    arg_i(a, d[i].last_used);
  }
}

static int rd_usage_add(void *state, const struct uc_usage_delta *d, size_t n) {
  struct rd *s = state;
  struct args a;
  args_init(&a, s);
  usage_args(&a, d, n);
  return eval_status(s, RS_USAGE_ADD, &a, NULL);
}

static int rd_batch_usage_add(void *state, const struct uc_usage_delta *d, size_t n) {
  struct rd *s = state;
  struct args a;
  args_init(&a, s);
  usage_args(&a, d, n);
  return eval_status(s, RS_BATCH_USAGE_ADD, &a, NULL);
}

static int by_key_day(const void *x, const void *y) {
  const struct uc_usage_row *a = x, *b = y;
  if (a->key_id != b->key_id)
    return a->key_id < b->key_id ? -1 : 1;
  return a->day < b->day ? -1 : a->day > b->day;
}

/* Adds one key's "YYYY-MM-DD:outcome" counts (white, grey, black, banned) since since_day
 * to rows: one row per day. */
static int usage_of_key(int64_t key, const redisReply *fields, unsigned since_day,
                        struct uc_buf *out) {
  size_t first = UC_BUF_COUNT(out, struct uc_usage_row);
  for (size_t i = 0; i + 1 < count(fields); i += 2) {
    const char *f = text(at(fields, i));
    const char *colon = strchr(f, ':');
    unsigned day = colon && colon - f == 10 ? uc_date_parse(f, 10) : 0;
    unsigned c;
    if (!day || day < since_day || uc_usage_outcome_parse(colon + 1, &c) != UC_OK)
      continue;
    struct uc_usage_row *row = NULL;
    for (size_t j = first; !row && j < UC_BUF_COUNT(out, struct uc_usage_row); j++)
      if (UC_BUF_AT(out, struct uc_usage_row, j).day == day)
        row = &UC_BUF_AT(out, struct uc_usage_row, j);
    struct uc_usage_row fresh = {.key_id = key, .day = day};
    if (!row && uc_buf_add(out, &fresh, sizeof fresh))
      return UC_ENOMEM;
    if (!row)
      row = &UC_BUF_AT(out, struct uc_usage_row, UC_BUF_COUNT(out, struct uc_usage_row) - 1);
    row->count[c] += (uint64_t)num(at(fields, i + 1));
  }
  return UC_OK;
}

/* Usage rows of one account ("usage:" or "batch_usage:"), by key then day. */
static int usage_each(struct rd *s, const char *what, int64_t account_id, unsigned since_day,
                      uc_usage_cb cb, void *arg) {
  struct args a;
  struct uc_buf out;
  int rc = UC_OK;
  args_init(&a, s);
  arg_i(&a, account_id);
  arg_s(&a, what);
  redisReply *r = eval(s, RS_USAGE_EACH, &a, &rc);
  args_release(&a);
  if (!r)
    return rc;
  uc_buf_init(&out, (size_t)1 << 30);
  for (size_t i = 0; rc == UC_OK && i < count(r); i++)
    rc = usage_of_key(num(at(at(r, i), 0)), at(at(r, i), 1), since_day, &out);
  size_t n = UC_BUF_COUNT(&out, struct uc_usage_row);
  if (n)
    qsort(out.data, n, sizeof(struct uc_usage_row), by_key_day);
  for (size_t i = 0; rc == UC_OK && i < n; i++)
    if (cb(arg, &UC_BUF_AT(&out, struct uc_usage_row, i)))
      break;
  uc_buf_release(&out);
  freeReplyObject(r);
  return rc;
}

static int rd_usage_each(void *state, int64_t account_id, unsigned since_day, uc_usage_cb cb,
                         void *arg) {
  return usage_each(state, "usage:", account_id, since_day, cb, arg);
}

static int rd_batch_usage_each(void *state, int64_t account_id, unsigned since_day, uc_usage_cb cb,
                               void *arg) {
  return usage_each(state, "batch_usage:", account_id, since_day, cb, arg);
}

/* ---- settings ---- */

static int rd_settings_get(void *state, int64_t account_id, char **json) {
  struct rd *s = state;
  char key[80], field[24];
  int rc = UC_OK;
  *json = NULL;
  snprintf(key, sizeof key, "%s:settings", s->url.prefix);
  snprintf(field, sizeof field, "%lld", (long long)account_id);
  redisReply *r = command(s, &rc, 3, (const char *[]){"HGET", key, field});
  if (!r)
    return rc;
  if (r->type == REDIS_REPLY_STRING && !(*json = strdup(r->str)))
    rc = UC_ENOMEM;
  freeReplyObject(r);
  return rc;
}

static int rd_settings_put(void *state, int64_t account_id, const char *json) {
  struct rd *s = state;
  struct args a;
  args_init(&a, s);
  arg_i(&a, account_id);
  arg_s(&a, json);
  return eval_status(s, RS_SETTINGS_PUT, &a, NULL);
}

/* ---- domain lists ---- */

struct domain {
  const char *name;
  int64_t added_at;
};

static int by_name(const void *x, const void *y) {
  return strcmp(((const struct domain *)x)->name, ((const struct domain *)y)->name);
}

/* One {account, colour, {domain, added_at, ...}} group, by domain. */
static int list_group(const redisReply *g, uc_list_cb cb, void *arg, int *stop) {
  const redisReply *rows = at(g, 2);
  size_t n = count(rows) / 2;
  struct domain *d = calloc(n ? n : 1, sizeof *d);
  struct uc_list_rec l = {.account_id = num(at(g, 0))};
  if (!d)
    return UC_ENOMEM;
  for (size_t i = 0; i < n; i++)
    d[i] = (struct domain){text(at(rows, 2 * i)), num(at(rows, 2 * i + 1))};
  qsort(d, n, sizeof *d, by_name);
  uc_category_parse(text(at(g, 1)), &l.color);
  for (size_t i = 0; !*stop && i < n; i++) {
    l.domain = d[i].name, l.added_at = d[i].added_at;
    *stop = cb(arg, &l);
  }
  free(d);
  return UC_OK;
}

static int rd_list_each(void *state, int64_t account_id, uc_list_cb cb, void *arg) {
  struct rd *s = state;
  struct args a;
  int rc = UC_OK, stop = 0;
  args_init(&a, s);
  arg_i(&a, account_id);
  redisReply *r = eval(s, RS_LIST_EACH, &a, &rc);
  args_release(&a);
  for (size_t i = 0; r && rc == UC_OK && !stop && i < count(r); i++)
    rc = list_group(at(r, i), cb, arg, &stop);
  freeReplyObject(r);
  return rc;
}

static int list_op(struct rd *s, enum redis_script id, int64_t account_id, uc_category c,
                   const char *domain, int with_time) {
  struct args a;
  args_init(&a, s);
  arg_i(&a, account_id);
  arg_s(&a, uc_category_name(c));
  arg_s(&a, domain);
  if (with_time)
    arg_i(&a, (int64_t)time(NULL));
  return eval_status(s, id, &a, NULL);
}

static int rd_list_add(void *state, int64_t account_id, uc_category c, const char *domain) {
  return list_op(state, RS_LIST_ADD, account_id, c, domain, 1);
}

static int rd_list_remove(void *state, int64_t account_id, uc_category c, const char *domain) {
  return list_op(state, RS_LIST_REMOVE, account_id, c, domain, 0);
}

static int rd_list_replace(void *state, int64_t account_id, uc_category c,
                           const char *const *domains, size_t n) {
  struct rd *s = state;
  struct args a;
  args_init(&a, s);
  arg_i(&a, account_id);
  arg_s(&a, uc_category_name(c));
  arg_i(&a, (int64_t)time(NULL));
  for (size_t i = 0; i < n; i++)
    arg_s(&a, domains[i]);
  return eval_status(s, RS_LIST_REPLACE, &a, NULL);
}

static int rd_list_put(void *state, const struct uc_list_rec *l, size_t n) {
  struct rd *s = state;
  struct args a;
  args_init(&a, s);
  for (size_t i = 0; i < n; i++) {
    arg_i(&a, l[i].account_id);
    arg_s(&a, uc_category_name(l[i].color));
    arg_s(&a, l[i].domain);
    arg_i(&a, l[i].added_at);
  }
  return eval_status(s, RS_LIST_PUT, &a, NULL);
}

/* ---- bans ---- */

static void read_ban(struct uc_ban_rec *b, int64_t account, const char *ip, const redisReply *a,
                     const redisReply *banned, const redisReply *updated) {
  memset(b, 0, sizeof *b);
  b->account_id = account;
  snprintf(b->ip, sizeof b->ip, "%s", ip);
  b->attempts = (unsigned)num(a);
  b->banned_at = num(banned);
  b->updated_at = num(updated);
}

static int by_account_ip(const void *x, const void *y) {
  const struct uc_ban_rec *a = x, *b = y;
  if (a->account_id != b->account_id)
    return a->account_id < b->account_id ? -1 : 1;
  return strcmp(a->ip, b->ip);
}

static int rd_ban_each(void *state, int64_t account_id, uc_ban_cb cb, void *arg) {
  struct rd *s = state;
  struct args a;
  struct uc_buf out;
  int rc = UC_OK;
  args_init(&a, s);
  arg_i(&a, account_id);
  redisReply *r = eval(s, RS_BAN_EACH, &a, &rc);
  args_release(&a);
  if (!r)
    return rc;
  uc_buf_init(&out, (size_t)1 << 31);
  for (size_t i = 0; rc == UC_OK && i < count(r); i++) {
    const redisReply *flat = at(at(r, i), 1);
    for (size_t j = 0; rc == UC_OK && j + 3 < count(flat); j += 4) {
      struct uc_ban_rec b;
      read_ban(&b, num(at(at(r, i), 0)), text(at(flat, j)), at(flat, j + 1), at(flat, j + 2),
               at(flat, j + 3));
      rc = uc_buf_add(&out, &b, sizeof b) ? UC_ENOMEM : UC_OK;
    }
  }
  size_t n = UC_BUF_COUNT(&out, struct uc_ban_rec);
  if (n)
    qsort(out.data, n, sizeof(struct uc_ban_rec), by_account_ip);
  for (size_t i = 0; rc == UC_OK && i < n; i++)
    if (cb(arg, &UC_BUF_AT(&out, struct uc_ban_rec, i)))
      break;
  uc_buf_release(&out);
  freeReplyObject(r);
  return rc;
}

static int rd_ban_get(void *state, int64_t account_id, const char *ip, struct uc_ban_rec *out) {
  struct rd *s = state;
  struct args a;
  int rc = UC_OK;
  args_init(&a, s);
  arg_i(&a, account_id);
  arg_s(&a, ip);
  redisReply *r = eval(s, RS_BAN_GET, &a, &rc);
  args_release(&a);
  if (!r)
    return rc;
  rc = count(r) == 3 ? UC_OK : UC_ENOTFOUND;
  if (rc == UC_OK)
    read_ban(out, account_id, ip, at(r, 0), at(r, 1), at(r, 2));
  freeReplyObject(r);
  return rc;
}

static int rd_ban_put(void *state, const struct uc_ban_rec *b, size_t n) {
  struct rd *s = state;
  struct args a;
  args_init(&a, s);
  for (size_t i = 0; i < n; i++) {
    arg_i(&a, b[i].account_id);
    arg_s(&a, b[i].ip);
    arg_i(&a, b[i].attempts);
    arg_i(&a, b[i].banned_at);
    arg_i(&a, b[i].updated_at);
  }
  return eval_status(s, RS_BAN_PUT, &a, NULL);
}

static int rd_ban_hit(void *state, int64_t account_id, const char *ip, unsigned threshold,
                      unsigned lift_seconds, int64_t now, struct uc_ban_rec *out, int *counted) {
  struct rd *s = state;
  struct args a;
  int rc = UC_OK;
  args_init(&a, s);
  arg_i(&a, account_id);
  arg_s(&a, ip);
  arg_i(&a, threshold);
  arg_i(&a, lift_seconds);
  arg_i(&a, now);
  arg_s(&a, s->origin);
  redisReply *r = eval(s, RS_BAN_HIT, &a, &rc);
  args_release(&a);
  if (!r)
    return rc;
  read_ban(out, account_id, ip, at(r, 0), at(r, 1), at(r, 2));
  *counted = num(at(r, 3)) != 0;
  freeReplyObject(r);
  return UC_OK;
}

/* Deletes the account's row of ip (NULL: all of them) and feeds the change. */
static int unban(struct rd *s, int64_t account_id, const char *ip, size_t *deleted) {
  struct args a;
  int rc = UC_OK;
  args_init(&a, s);
  arg_i(&a, account_id);
  arg_s(&a, ip ? ip : "");
  arg_s(&a, s->origin);
  arg_i(&a, (int64_t)time(NULL));
  redisReply *r = eval(s, RS_UNBAN, &a, &rc);
  args_release(&a);
  *deleted = r ? (size_t)num(r) : 0;
  freeReplyObject(r);
  return rc;
}

static int rd_ban_delete(void *state, int64_t account_id, const char *ip) {
  size_t n = 0;
  int rc = unban(state, account_id, ip, &n);
  return rc == UC_OK && n == 0 ? UC_ENOTFOUND : rc;
}

static int rd_ban_delete_all(void *state, int64_t account_id, size_t *deleted) {
  return unban(state, account_id, NULL, deleted);
}

/* ---- change feed ---- */

static enum uc_change_kind kind_of(const char *k) {
  return strcmp(k, "unban_all") == 0 ? UC_CHANGE_UNBAN_ALL
         : strcmp(k, "ban") == 0     ? UC_CHANGE_BAN
                                     : UC_CHANGE_UNBAN;
}

/* One batch of up to BATCH changes; *more when there may be others after it. */
static int changes_batch(struct rd *s, uint64_t *cursor, uc_change_cb cb, void *arg, int *more) {
  struct args a;
  int rc = UC_OK, stop = 0;
  args_init(&a, s);
  arg_i(&a, (int64_t)*cursor);
  redisReply *r = eval(s, RS_CHANGES, &a, &rc);
  args_release(&a);
  *more = 0;
  if (!r)
    return rc;
  if (*cursor == 0) {
    *cursor = (uint64_t)num(at(r, 0));
    freeReplyObject(r);
    return UC_OK;
  }
  for (size_t i = 0; !stop && i + 6 < count(r); i += 7) {
    const redisReply *const *f = (const redisReply *const *)&r->element[i];
    struct uc_change c = {.id = (uint64_t)num(f[0]),
                          .kind = kind_of(text(f[3])),
                          .account_id = num(f[2]),
                          .ip = text(f[4]),
                          .own = strcmp(text(f[1]), s->origin) == 0,
                          .attempts = (unsigned)num(f[5]),
                          .banned_at = num(f[6])};
    *cursor = c.id + 1;
    stop = cb(arg, &c);
  }
  *more = !stop && count(r) / 7 == BATCH;
  freeReplyObject(r);
  return UC_OK;
}

static int rd_changes(void *state, uint64_t *cursor, uc_change_cb cb, void *arg) {
  int more = 1, rc = UC_OK;
  while (rc == UC_OK && more)
    rc = changes_batch(state, cursor, cb, arg, &more);
  return rc;
}

/* ---- secrets ---- */

static int rd_secret(void *state, const char *name, uint8_t out[32]) {
  struct rd *s = state;
  struct args a;
  uint8_t fresh[32];
  int rc = UC_OK;
  randombytes_buf(fresh, sizeof fresh);
  args_init(&a, s);
  arg_s(&a, name);
  arg(&a, fresh, sizeof fresh);
  redisReply *r = eval(s, RS_SECRET, &a, &rc);
  sodium_memzero(a.text.data, a.text.len);
  args_release(&a);
  sodium_memzero(fresh, sizeof fresh);
  if (r && (r->type != REDIS_REPLY_STRING || r->len != 32))
    rc = uc__store_errorf(UC_ESTORE, "redis %s: secret '%s' is damaged", s->where, name);
  else if (r)
    memcpy(out, r->str, 32);
  freeReplyObject(r);
  return rc;
}

static int rd_secret_put(void *state, const char *name, const uint8_t value[32]) {
  struct rd *s = state;
  struct args a;
  args_init(&a, s);
  arg_s(&a, name);
  arg(&a, value, 32);
  return eval_status(s, RS_SECRET_PUT, &a, NULL);
}

static int rd_secret_each(void *state, uc_secret_cb cb, void *arg) {
  struct rd *s = state;
  struct args a;
  int rc = UC_OK;
  args_init(&a, s);
  redisReply *r = eval(s, RS_SECRET_EACH, &a, &rc);
  args_release(&a);
  for (size_t i = 0; r && i + 1 < count(r); i += 2) {
    const redisReply *v = at(r, i + 1);
    if (v->type == REDIS_REPLY_STRING && v->len == 32 &&
        cb(arg, text(at(r, i)), (const uint8_t *)v->str))
      break;
  }
  freeReplyObject(r);
  return rc;
}

/* ---- alias memory ---- */

static int rd_alias_put(void *state, const struct uc_alias_rec *r, size_t n) {
  struct rd *s = state;
  struct args a;
  args_init(&a, s);
  arg_i(&a, (int64_t)UC_ALIAS_WINDOW_MAX * 86400); /* the longest window an account may set */
  for (size_t i = 0; i < n; i++) {
    arg_i(&a, r[i].account_id);
    arg_hex(&a, r[i].mailbox, UC_ALIAS_HASH);
    arg_hex(&a, r[i].spelling, UC_ALIAS_HASH);
    arg_i(&a, r[i].last_seen);
  }
  return eval_status(s, RS_ALIAS_PUT, &a, NULL);
}

/* The spellings of one mailbox: its hash, read whole. */
static int alias_one(struct rd *s, int64_t account_id, const uint8_t *mailbox, int64_t since,
                     uc_alias_cb cb, void *arg) {
  char key[160], hex[2 * UC_ALIAS_HASH + 1];
  int rc = UC_OK;
  sodium_bin2hex(hex, sizeof hex, mailbox, UC_ALIAS_HASH);
  snprintf(key, sizeof key, "%s:alias:%lld:%s", s->url.prefix, (long long)account_id, hex);
  redisReply *r = command(s, &rc, 2, (const char *[]){"HGETALL", key});
  for (size_t i = 0; r && i + 1 < count(r); i += 2) {
    struct uc_alias_rec a = {.account_id = account_id, .last_seen = num(at(r, i + 1))};
    memcpy(a.mailbox, mailbox, UC_ALIAS_HASH);
    if (a.last_seen >= since && unhex(at(r, i), a.spelling, UC_ALIAS_HASH) && cb(arg, &a))
      break;
  }
  freeReplyObject(r);
  return rc;
}

/* Every spelling seen since, newest first, BATCH at a time (no long script). */
static int alias_all(struct rd *s, int64_t since, uc_alias_cb cb, void *arg) {
  int rc = UC_OK, stop = 0;
  for (int64_t offset = 0; rc == UC_OK && !stop; offset += BATCH) {
    struct args a;
    args_init(&a, s);
    arg_i(&a, since);
    arg_i(&a, offset);
    arg_i(&a, BATCH);
    redisReply *r = eval(s, RS_ALIAS_ALL, &a, &rc);
    args_release(&a);
    for (size_t i = 1; r && !stop && i + 3 < count(r); i += 4) {
      struct uc_alias_rec x = {.account_id = num(at(r, i)), .last_seen = num(at(r, i + 3))};
      if (unhex(at(r, i + 1), x.mailbox, UC_ALIAS_HASH) &&
          unhex(at(r, i + 2), x.spelling, UC_ALIAS_HASH))
        stop = cb(arg, &x);
    }
    stop |= !r || num(at(r, 0)) < BATCH;
    freeReplyObject(r);
  }
  return rc;
}

static int rd_alias_each(void *state, int64_t account_id, const uint8_t *mailbox, int64_t since,
                         uc_alias_cb cb, void *arg) {
  return mailbox ? alias_one(state, account_id, mailbox, since, cb, arg)
                 : alias_all(state, since, cb, arg);
}

static int rd_alias_trim(void *state, int64_t before, size_t *deleted) {
  struct rd *s = state;
  int rc = UC_OK;
  int64_t looked = BATCH;
  *deleted = 0;
  while (rc == UC_OK && looked == BATCH) { /* a batch a script: Redis never waits long */
    struct args a;
    args_init(&a, s);
    arg_i(&a, before);
    arg_i(&a, BATCH);
    redisReply *r = eval(s, RS_ALIAS_TRIM, &a, &rc);
    args_release(&a);
    looked = r ? num(at(r, 0)) : 0;
    *deleted += r ? (size_t)num(at(r, 1)) : 0;
    freeReplyObject(r);
  }
  return rc;
}

/* ---- the RDAP cache ---- */

static const char *const rdap_statuses[] = {NULL, "found", "not_found", "no_service", "failed"};

/* status, created, checked_at, expires_at replies into r (domain set by the
 * caller); 0 when the status is not one of ours. */
static int read_rdap(const redisReply *const *f, struct uc_rdap_rec *r) {
  r->status = 0;
  for (int i = UC_RDAP_FOUND; i <= UC_RDAP_FAILED; i++)
    if (strcmp(text(f[0]), rdap_statuses[i]) == 0)
      r->status = (enum uc_rdap_status)i;
  r->created = r->status == UC_RDAP_FOUND ? (unsigned)num(f[1]) : 0;
  r->checked_at = num(f[2]), r->expires_at = num(f[3]);
  return r->status != 0;
}

static int rd_rdap_get(void *state, const char *domain, struct uc_rdap_rec *out) {
  struct rd *s = state;
  char key[UC_DOMAIN_MAX + 160];
  int rc = UC_OK;
  snprintf(key, sizeof key, "%s:rdap:%s", s->url.prefix, domain);
  redisReply *r = command(
      s, &rc, 6, (const char *[]){"HMGET", key, "status", "created", "checked_at", "expires_at"});
  if (r) {
    memset(out, 0, sizeof *out);
    snprintf(out->domain, sizeof out->domain, "%s", domain);
    if (count(r) != 4 || !read_rdap((const redisReply *const *)r->element, out))
      rc = UC_ENOTFOUND;
  }
  freeReplyObject(r);
  return rc;
}

static int rd_rdap_put(void *state, const struct uc_rdap_rec *r) {
  struct rd *s = state;
  struct args a;
  if ((unsigned)r->status < UC_RDAP_FOUND || r->status > UC_RDAP_FAILED)
    return uc__store_errorf(UC_EINVAL, "rdap status %d", (int)r->status);
  args_init(&a, s);
  arg_s(&a, r->domain);
  arg_s(&a, rdap_statuses[r->status]);
  arg_i(&a, r->status == UC_RDAP_FOUND ? r->created : 0);
  arg_i(&a, r->checked_at);
  arg_i(&a, r->expires_at);
  return eval_status(s, RS_RDAP_PUT, &a, NULL);
}

/* Rows valid at `at`, most recently checked first, BATCH at a time. */
static int rd_rdap_each(void *state, int64_t at_time, size_t limit, uc_rdap_cb cb, void *arg) {
  struct rd *s = state;
  int rc = UC_OK, stop = limit == 0;
  size_t given = 0;
  for (int64_t offset = 0; rc == UC_OK && !stop; offset += BATCH) {
    struct args a;
    args_init(&a, s);
    arg_i(&a, offset);
    arg_i(&a, BATCH);
    arg_i(&a, at_time);
    redisReply *r = eval(s, RS_RDAP_EACH, &a, &rc);
    args_release(&a);
    for (size_t i = 1; r && !stop && i + 4 < count(r); i += 5) {
      struct uc_rdap_rec x = {0};
      copy_text(x.domain, sizeof x.domain, at(r, i));
      if (read_rdap((const redisReply *const *)&r->element[i + 1], &x))
        stop = cb(arg, &x) || ++given == limit;
    }
    stop |= !r || num(at(r, 0)) < BATCH;
    freeReplyObject(r);
  }
  return rc;
}

static int rd_rdap_trim(void *state, int64_t before, size_t *deleted) {
  struct rd *s = state;
  int rc = UC_OK;
  int64_t looked = BATCH;
  size_t n = 0;
  while (rc == UC_OK && looked == BATCH) { /* a batch a script: Redis never waits long */
    struct args a;
    args_init(&a, s);
    arg_i(&a, before);
    arg_i(&a, BATCH);
    redisReply *r = eval(s, RS_RDAP_TRIM, &a, &rc);
    args_release(&a);
    looked = r ? num(at(r, 0)) : 0;
    n += r ? (size_t)num(at(r, 1)) : 0;
    freeReplyObject(r);
  }
  if (deleted)
    *deleted = n;
  return rc;
}

/* ---- batch tasks ---- */

/* A task's hash, field by field: the one table that writes and reads it. */
enum bf_kind { BF_I64, BF_U64, BF_UNSIGNED, BF_INT, BF_TEXT, BF_KEY_TYPE, BF_FORMAT, BF_STATUS };
struct bfield {
  const char *name;
  enum bf_kind kind;
  size_t off, size;
};
#define BF(name, kind, member)                                                                     \
  { name, kind, offsetof(struct uc_batch_rec, member), sizeof(((struct uc_batch_rec *)0)->member) }

_Static_assert(UC_TYPE_COUNT == 12, "one type_ field per uc_type");
static const struct bfield batch_fields[] = {
    BF("account_id", BF_I64, account_id),
    BF("key_id", BF_I64, key_id),
    BF("key_type", BF_KEY_TYPE, key_type),
    BF("project", BF_TEXT, project),
    BF("filename", BF_TEXT, filename),
    BF("format", BF_FORMAT, format),
    BF("deduplicate", BF_INT, deduplicate),
    /* the progress (uc_store_batch_update) from here... */
    BF("status", BF_STATUS, status),
    BF("rows_total", BF_U64, counts.rows_total),
    BF("rows_done", BF_U64, counts.rows_done),
    BF("white", BF_U64, counts.category[UC_WHITE]),
    BF("grey", BF_U64, counts.category[UC_GREY]),
    BF("black", BF_U64, counts.category[UC_BLACK]),
    BF("blank", BF_U64, counts.blank),
    BF("duplicates", BF_U64, counts.duplicates),
    BF("type_white", BF_U64, counts.type[UC_T_WHITE_LIST]),
    BF("type_grey", BF_U64, counts.type[UC_T_GREY_LIST]),
    BF("type_black", BF_U64, counts.type[UC_T_BLACK_LIST]),
    BF("type_disposable", BF_U64, counts.type[UC_T_DISPOSABLE]),
    BF("type_masked", BF_U64, counts.type[UC_T_MASKED]),
    BF("type_no_website", BF_U64, counts.type[UC_T_NO_WEBSITE]),
    BF("type_multi_alias", BF_U64, counts.type[UC_T_MULTI_ALIAS]),
    BF("type_suspicious", BF_U64, counts.type[UC_T_SUSPICIOUS]),
    BF("type_young", BF_U64, counts.type[UC_T_YOUNG]),
    BF("type_legitimate", BF_U64, counts.type[UC_T_LEGITIMATE]),
    BF("type_invalid", BF_U64, counts.type[UC_T_INVALID]),
    BF("type_unknown", BF_U64, counts.type[UC_T_UNKNOWN]),
    BF("upload_bytes", BF_U64, upload_bytes),
    BF("result_bytes", BF_U64, result_bytes),
    BF("finished_at", BF_I64, finished_at),
    BF("attempts", BF_UNSIGNED, attempts),
    BF("reason", BF_TEXT, reason),
    /* ...to here */
    BF("created_at", BF_I64, created_at),
    BF("owner", BF_TEXT, owner),
    BF("lease_until", BF_I64, lease_until),
};
#define NBATCH_FIELDS (sizeof batch_fields / sizeof batch_fields[0])
#define PROGRESS_FIRST 7 /* status */
#define PROGRESS_END 32  /* after reason */

/* Field i of t as a command argument. */
static void batch_arg(struct args *a, const struct uc_batch_rec *t, size_t i) {
  const struct bfield *f = &batch_fields[i];
  const char *p = (const char *)t + f->off;
  switch (f->kind) {
  case BF_I64:
    arg_i(a, *(const int64_t *)p);
    break;
  case BF_U64:
    arg_i(a, (int64_t) * (const uint64_t *)p);
    break;
  case BF_UNSIGNED:
    arg_i(a, *(const unsigned *)p);
    break;
  case BF_INT:
    arg_i(a, *(const int *)p != 0);
    break;
  case BF_TEXT:
    arg_s(a, p);
    break;
  case BF_KEY_TYPE:
    arg_s(a, uc_key_type_name(t->key_type));
    break;
  case BF_FORMAT:
    arg_s(a, uc_batch_format_name(t->format));
    break;
  case BF_STATUS:
    arg_s(a, uc_batch_status_name(t->status));
    break;
  }
}

/* Fields [from, to) of t as (name, value) pairs. */
static void batch_pairs(struct args *a, const struct uc_batch_rec *t, size_t from, size_t to) {
  for (size_t i = from; i < to; i++) {
    arg_s(a, batch_fields[i].name);
    batch_arg(a, t, i);
  }
}

/* The field names, for a script that reads rows (HMGET in that order). */
static void batch_names(struct args *a) {
  for (size_t i = 0; i < NBATCH_FIELDS; i++)
    arg_s(a, batch_fields[i].name);
}

/* Task id from f[0..NBATCH_FIELDS) (HMGET's replies): 0 when there is none. */
static int read_batch(const char *id, const redisReply *const *f, struct uc_batch_rec *t) {
  memset(t, 0, sizeof *t);
  if (!f[0] || f[0]->type != REDIS_REPLY_STRING)
    return 0; /* gone meanwhile */
  snprintf(t->id, sizeof t->id, "%s", id);
  for (size_t i = 0; i < NBATCH_FIELDS; i++) {
    const struct bfield *b = &batch_fields[i];
    char *p = (char *)t + b->off, name[24];
    switch (b->kind) {
    case BF_I64:
      *(int64_t *)p = num(f[i]);
      break;
    case BF_U64:
      *(uint64_t *)p = (uint64_t)num(f[i]);
      break;
    case BF_UNSIGNED:
      *(unsigned *)p = (unsigned)num(f[i]);
      break;
    case BF_INT:
      *(int *)p = num(f[i]) != 0;
      break;
    case BF_TEXT:
      copy_text(p, b->size, f[i]);
      break;
    case BF_KEY_TYPE:
      uc_key_type_parse(text(f[i]), &t->key_type);
      break;
    case BF_FORMAT:
      snprintf(name, sizeof name, "x.%s", text(f[i])); /* the format by its extension */
      uc_batch_format_of(name, &t->format);
      break;
    case BF_STATUS:
      uc_batch_status_parse(text(f[i]), &t->status);
      break;
    }
  }
  return 1;
}

static int rd_batch_insert(void *state, const struct uc_batch_rec *t) {
  struct rd *s = state;
  struct args a;
  args_init(&a, s);
  arg_s(&a, t->id);
  arg_i(&a, t->account_id);
  arg_i(&a, t->created_at);
  batch_pairs(&a, t, 0, NBATCH_FIELDS);
  return eval_status(s, RS_BATCH_PUT, &a, NULL);
}

/* The progress of t (while t->owner's, when set; finish: while processing),
 * and n usage rows. */
static int batch_write(struct rd *s, const struct uc_batch_rec *t, int finish,
                       const struct uc_usage_delta *d, size_t n) {
  struct args a;
  args_init(&a, s);
  arg_s(&a, t->id);
  arg_i(&a, t->account_id);
  arg_s(&a, t->owner);
  arg_i(&a, finish);
  arg_i(&a, PROGRESS_END - PROGRESS_FIRST);
  batch_pairs(&a, t, PROGRESS_FIRST, PROGRESS_END);
  usage_args(&a, d, n);
  return eval_status(s, RS_BATCH_WRITE, &a, NULL);
}

static int rd_batch_update(void *state, const struct uc_batch_rec *t) {
  return batch_write(state, t, 0, NULL, 0);
}

static int rd_batch_finish(void *state, const struct uc_batch_rec *t,
                           const struct uc_usage_delta *d, size_t n) {
  return batch_write(state, t, 1, d, n);
}

static int rd_batch_get(void *state, int64_t account_id, const char *id, struct uc_batch_rec *out) {
  struct rd *s = state;
  struct args a;
  char key[UC_BATCH_ID_LEN + 96];
  int rc = UC_OK;
  snprintf(key, sizeof key, "%s:batch:%s", s->url.prefix, id);
  const char *head[] = {"HMGET", key};
  size_t hlen[] = {5, strlen(key)};
  args_init(&a, NULL);
  batch_names(&a);
  redisReply *r = send_argv(s, head, hlen, 2, &a, &rc);
  args_release(&a);
  if (r && r->type == REDIS_REPLY_ERROR)
    rc = reply_error(s, r);
  else if (r)
    rc = count(r) == NBATCH_FIELDS && read_batch(id, (const redisReply *const *)r->element, out) &&
                 (account_id == 0 || out->account_id == account_id)
             ? UC_OK
             : UC_ENOTFOUND;
  freeReplyObject(r);
  return rc;
}

/* Calls cb on each id, values... of r from element i on; 1 when cb stopped. */
static int batch_rows(const redisReply *r, size_t i, uc_batch_cb cb, void *arg) {
  for (; i + NBATCH_FIELDS < count(r); i += NBATCH_FIELDS + 1) {
    struct uc_batch_rec t;
    if (read_batch(text(at(r, i)), (const redisReply *const *)&r->element[i + 1], &t) &&
        cb(arg, &t))
      return 1;
  }
  return 0;
}

/* Newest first, BATCH a script: a cursor on the score (unique: created_at
 * and a sequence), so that tasks added or deleted meanwhile move nothing. */
static int rd_batch_each(void *state, int64_t account_id, uc_batch_cb cb, void *arg) {
  struct rd *s = state;
  char index[40] = "batches", cursor[48] = "+inf";
  int rc = UC_OK, stop = 0;
  if (account_id)
    snprintf(index, sizeof index, "batches:%lld", (long long)account_id);
  while (rc == UC_OK && !stop) {
    struct args a;
    args_init(&a, s);
    arg_s(&a, index);
    arg_s(&a, cursor);
    arg_i(&a, BATCH);
    batch_names(&a);
    redisReply *r = eval(s, RS_BATCH_EACH, &a, &rc);
    args_release(&a);
    stop = !r || batch_rows(r, 2, cb, arg) || num(at(r, 0)) < BATCH;
    if (r)
      snprintf(cursor, sizeof cursor, "(%s", text(at(r, 1)));
    freeReplyObject(r);
  }
  return rc;
}

static int rd_batch_delete(void *state, int64_t account_id, const char *id) {
  struct rd *s = state;
  struct args a;
  args_init(&a, s);
  arg_s(&a, id);
  arg_i(&a, account_id);
  return eval_status(s, RS_BATCH_DELETE, &a, NULL);
}

static int rd_batch_claim(void *state, const char *id, const char *owner, int64_t now_ms,
                          unsigned lease_ms, struct uc_batch_rec *out) {
  struct rd *s = state;
  struct args a;
  redisReply *r = NULL;
  (void)now_ms; /* Redis's clock: every server agrees on it */
  args_init(&a, s);
  arg_s(&a, id);
  arg_s(&a, owner);
  arg_i(&a, lease_ms);
  batch_names(&a);
  int rc = eval_status(s, RS_BATCH_CLAIM, &a, &r);
  if (rc == UC_OK && !(count(r) == NBATCH_FIELDS + 1 &&
                       read_batch(id, (const redisReply *const *)&r->element[1], out)))
    rc = UC_ENOTFOUND;
  freeReplyObject(r);
  return rc;
}

static int rd_batch_release(void *state, const char *id, const char *owner) {
  struct rd *s = state;
  struct args a;
  args_init(&a, s);
  arg_s(&a, id);
  arg_s(&a, owner);
  return eval_status(s, RS_BATCH_RELEASE, &a, NULL);
}

static int rd_batch_stale(void *state, int64_t now_ms, size_t limit, uc_batch_cb cb, void *arg) {
  struct rd *s = state;
  struct args a;
  int rc = UC_OK;
  (void)now_ms; /* Redis's clock */
  args_init(&a, s);
  arg_i(&a, limit > BATCH ? BATCH : (int64_t)limit); /* the oldest: a worker wants few */
  batch_names(&a);
  redisReply *r = eval(s, RS_BATCH_STALE, &a, &rc);
  args_release(&a);
  if (r)
    batch_rows(r, 0, cb, arg);
  freeReplyObject(r);
  return rc;
}

/* ---- audit ---- */

static int audit_add(struct rd *s, int64_t id, int64_t account_id, int64_t key_id, int64_t when,
                     const char *action, const char *detail) {
  struct args a;
  args_init(&a, s);
  arg_i(&a, id);
  arg_i(&a, account_id);
  arg_i(&a, key_id);
  arg_i(&a, when);
  arg_s(&a, action);
  arg_s(&a, detail ? detail : "{}");
  return eval_status(s, RS_AUDIT_ADD, &a, NULL);
}

static int rd_audit_add(void *state, int64_t account_id, int64_t key_id, const char *action,
                        const char *detail) {
  return audit_add(state, 0, account_id, key_id, (int64_t)time(NULL), action, detail);
}

static int rd_audit_put(void *state, const struct uc_audit_rec *r) {
  return audit_add(state, r->id, r->account_id, r->key_id, r->at, r->action, r->detail);
}

static int audit_row(const redisReply *const *f, void *ctx) {
  struct visit *v = ctx;
  struct uc_audit_rec a = {num(f[0]), num(f[1]), num(f[2]), num(f[3]), text(f[4]), text(f[5])};
  return ((uc_audit_cb)v->cb)(v->arg, &a);
}

static int rd_audit_each(void *state, int64_t account_id, size_t limit, uc_audit_cb cb, void *arg) {
  static const char *const fields[] = {"account_id", "key_id", "at", "action", "detail"};
  struct visit v = {(void *)cb, arg};
  char index[40];
  if (limit == 0)
    return UC_OK;
  snprintf(index, sizeof index, "audits:%lld", (long long)account_id);
  return rows(state, index, "audit:", 1, limit > INT64_MAX ? -1 : (int64_t)limit, fields, 5,
              audit_row, &v);
}

/* ---- recent checks ---- */

/* A JSON string of recorded text (any bytes): when it is not UTF-8, its
 * non-ASCII bytes become '?'. */
static json_t *text_json(const char *t) {
  json_t *v = json_string(t);
  if (v)
    return v;
  char ascii[UC_ACTIVITY_TEXT_MAX + 1];
  size_t n = 0;
  for (; t[n] && n < sizeof ascii - 1; n++)
    ascii[n] = (unsigned char)t[n] < 0x80 ? t[n] : '?';
  ascii[n] = 0;
  return json_string(ascii);
}

char *uc__redis_activity_entry_json(const struct uc_activity_entry *e) {
  json_t *o = json_pack("{s:I, s:I, s:i, s:i, s:i, s:b, s:o, s:o}", "at", (json_int_t)e->at, "key",
                        (json_int_t)e->key_id, "key_type", (int)e->key_type, "outcome",
                        (int)e->outcome, "type", (int)e->type, "address", e->is_address, "text",
                        text_json(e->text), "ip", text_json(e->ip));
  char *j = o ? json_dumps(o, JSON_COMPACT) : NULL;
  json_decref(o);
  return j;
}

static int rd_activity_add(void *state, int64_t account_id, const struct uc_activity_rec *r,
                           size_t n) {
  struct rd *s = state;
  struct args a;
  args_init(&a, s);
  arg_i(&a, account_id);
  arg_i(&a, UC_ACTIVITY_RING);
  arg_i(&a, UC_ACTIVITY_TOP_SHARED);
  for (size_t i = 0; i < n; i++) {
    char *j = uc__redis_activity_entry_json(&r[i].e);
    if (!j) {
      args_release(&a);
      return uc__store_errorf(UC_ENOMEM, "out of memory");
    }
    arg_s(&a, j);
    free(j);
    arg_i(&a, r[i].e.at / 86400);
    arg_s(&a, r[i].top_domain);
    arg_s(&a, r[i].top_ip);
  }
  return eval_status(s, RS_ACTIVITY_ADD, &a, NULL);
}

int uc__redis_activity_entry_parse(const char *s, size_t n, struct uc_activity_entry *e) {
  json_t *o = json_loadb(s, n, 0, NULL);
  json_int_t seq = 0, at = 0, key = 0;
  int key_type = 0, outcome = 0, type = 0, address = 0;
  const char *txt = "", *ip = "";
  int ok = o && json_unpack(o, "{s:I, s:I, s:I, s:i, s:i, s:i, s:b, s:s, s:s}", "seq", &seq, "at",
                            &at, "key", &key, "key_type", &key_type, "outcome", &outcome, "type",
                            &type, "address", &address, "text", &txt, "ip", &ip) == 0;
  if (ok) {
    *e = (struct uc_activity_entry){.seq = (uint64_t)seq,
                                    .at = at,
                                    .key_id = key,
                                    .key_type = (uc_key_type)key_type,
                                    .outcome = (unsigned)outcome,
                                    .type = (uc_type)type,
                                    .is_address = address};
    snprintf(e->text, sizeof e->text, "%s", txt);
    snprintf(e->ip, sizeof e->ip, "%s", ip);
  }
  json_decref(o);
  return ok && seq > 0 && at >= 0 && key >= 0 && key_type >= 0 && key_type <= UC_KEY_ADMIN &&
         outcome >= 0 && outcome < UC_USAGE_OUTCOMES && type >= 0 && type < UC_TYPE_COUNT;
}

static int by_top_count(const void *x, const void *y) {
  const struct uc_activity_top *a = x, *b = y;
  if (a->count != b->count)
    return a->count > b->count ? -1 : 1;
  return strcmp(a->name, b->name);
}

/* {name, count, over, ...} into t (at most UC_ACTIVITY_TOP_SHOWN), most first. */
static size_t tops_read(const redisReply *r, struct uc_activity_top *t) {
  size_t n = 0;
  for (size_t i = 0; i + 2 < count(r) && n < UC_ACTIVITY_TOP_SHOWN; i += 3, n++) {
    copy_text(t[n].name, sizeof t[n].name, at(r, i));
    t[n].count = (uint64_t)num(at(r, i + 1));
    t[n].over = (uint64_t)num(at(r, i + 2));
  }
  qsort(t, n, sizeof *t, by_top_count);
  return n;
}

static int rd_activity_read(void *state, int64_t account_id, uint64_t since, unsigned today,
                            struct uc_activity_view *out) {
  struct rd *s = state;
  struct args a;
  int rc = UC_OK;
  args_init(&a, s);
  arg_i(&a, account_id);
  arg_i(&a, today);
  arg_i(&a, UC_ACTIVITY_TOP_SHOWN);
  redisReply *r = eval(s, RS_ACTIVITY_READ, &a, &rc);
  args_release(&a);
  if (!r)
    return rc;
  out->last_seq = (uint64_t)num(at(r, 0));
  const redisReply *list = at(r, 1);
  for (size_t i = 0; i < count(list) && out->n < UC_ACTIVITY_RING; i++) {
    struct uc_activity_entry *e = &out->entries[out->n];
    const redisReply *el = at(list, i);
    if (el && el->type == REDIS_REPLY_STRING &&
        uc__redis_activity_entry_parse(el->str, el->len, e) && e->seq > since)
      out->n++;
  }
  out->ndomains = tops_read(at(r, 2), out->domains);
  out->nips = tops_read(at(r, 3), out->ips);
  freeReplyObject(r);
  return UC_OK;
}

/* ---- rate limits ---- */

static int rd_rate_take(void *state, int64_t key_id, uint32_t per_second, uint32_t burst,
                        int64_t now_ms, int *allowed, int64_t *retry_ms) {
  struct rd *s = state;
  struct args a;
  int rc = UC_OK;
  (void)now_ms; /* Redis's clock: every server agrees on it */
  args_init(&a, s);
  arg_i(&a, key_id);
  arg_i(&a, per_second);
  arg_i(&a, burst);
  redisReply *r = eval(s, RS_RATE, &a, &rc);
  args_release(&a);
  if (!r)
    return rc;
  *allowed = num(at(r, 0)) != 0;
  *retry_ms = (num(at(r, 1)) + 999) / 1000;
  freeReplyObject(r);
  return UC_OK;
}

const struct uc_store_ops uc__store_redis_ops = {
    .scheme = "redis",
    .shared = 1,
    .open = rd_open,
    .close = rd_close,
    .version = rd_version,
    .account_create = rd_account_create,
    .account_get = rd_account_get,
    .account_each = rd_account_each,
    .key_insert = rd_key_insert,
    .key_each = rd_key_each,
    .key_by_hash = rd_key_by_hash,
    .key_get = rd_key_get,
    .key_revoke = rd_key_revoke,
    .key_update = rd_key_update,
    .key_touch = rd_key_touch,
    .usage_add = rd_usage_add,
    .usage_each = rd_usage_each,
    .settings_get = rd_settings_get,
    .settings_put = rd_settings_put,
    .list_each = rd_list_each,
    .list_add = rd_list_add,
    .list_remove = rd_list_remove,
    .list_replace = rd_list_replace,
    .ban_each = rd_ban_each,
    .ban_get = rd_ban_get,
    .ban_put = rd_ban_put,
    .ban_hit = rd_ban_hit,
    .ban_delete = rd_ban_delete,
    .ban_delete_all = rd_ban_delete_all,
    .changes = rd_changes,
    .secret = rd_secret,
    .alias_put = rd_alias_put,
    .alias_each = rd_alias_each,
    .alias_trim = rd_alias_trim,
    .audit_add = rd_audit_add,
    .audit_each = rd_audit_each,
    .secret_each = rd_secret_each,
    .account_put = rd_account_put,
    .key_put = rd_key_put,
    .list_put = rd_list_put,
    .audit_put = rd_audit_put,
    .secret_put = rd_secret_put,
    .rate_take = rd_rate_take,
    .rdap_get = rd_rdap_get,
    .rdap_put = rd_rdap_put,
    .rdap_each = rd_rdap_each,
    .rdap_trim = rd_rdap_trim,
    .batch_insert = rd_batch_insert,
    .batch_update = rd_batch_update,
    .batch_get = rd_batch_get,
    .batch_each = rd_batch_each,
    .batch_delete = rd_batch_delete,
    .batch_finish = rd_batch_finish,
    .batch_claim = rd_batch_claim,
    .batch_release = rd_batch_release,
    .batch_stale = rd_batch_stale,
    .batch_usage_add = rd_batch_usage_add,
    .batch_usage_each = rd_batch_usage_each,
    .activity_add = rd_activity_add,
    .activity_read = rd_activity_read,
};

/* rediss://: refused with the reason (the other ops are never reached). */
const struct uc_store_ops uc__store_rediss_ops = {
    .scheme = "rediss",
    .shared = 1,
    .open = rediss_open,
};
