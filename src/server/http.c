/* The libmicrohttpd side: request lifecycle, body limits, routing, replies,
 * access log. Route handlers live in routes_*.c. */
#include "http.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

uint64_t srv_now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static enum MHD_Result queue(struct MHD_Connection *c, struct req *r, unsigned status,
                             const char *ctype, struct MHD_Response *resp, size_t len);

enum MHD_Result srv_reply(struct MHD_Connection *c, struct req *r, unsigned status,
                          const char *ctype, const char *body, size_t len) {
  struct MHD_Response *resp =
      MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
  return queue(c, r, status, ctype, resp, len);
}

enum MHD_Result srv_reply_owned(struct MHD_Connection *c, struct req *r, unsigned status,
                                const char *ctype, char *body, size_t len) {
  if (!body)
    return srv_reply_detail(c, r, MHD_HTTP_INTERNAL_SERVER_ERROR, "Out of memory.");
  struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
  if (!resp)
    free(body);
  return queue(c, r, status, ctype, resp, len);
}

static const char *allowed(enum srv_route_id route);

static enum MHD_Result queue(struct MHD_Connection *c, struct req *r, unsigned status,
                             const char *ctype, struct MHD_Response *resp, size_t len) {
  if (!resp)
    return MHD_NO;
  if (r->deferred && r->stash) { /* one reply per request */
    MHD_destroy_response(resp);
    return MHD_NO;
  }
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
  if (atomic_load_explicit(&r->srv->draining, memory_order_relaxed))
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
  if (r->retry_after) {
    char secs[16];
    snprintf(secs, sizeof secs, "%u", r->retry_after);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, secs);
  }
  if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allowed(r->route));
  r->status = status;
  r->sent = len;
  if (r->deferred) { /* made off libmicrohttpd's thread: queued by it when it resumes */
    r->stash = resp;
    return MHD_YES;
  }
  enum MHD_Result ret = MHD_queue_response(c, status, resp);
  MHD_destroy_response(resp);
  srv_conn_busy(r->conn); /* answered: no request deadline while it is sent */
  return ret;
}

enum MHD_Result srv_reply_detail(struct MHD_Connection *c, struct req *r, unsigned status,
                                 const char *msg) {
  char buf[1024];
  struct uc_jsonw w;
  uc_jsonw_init(&w, buf, sizeof buf);
  uc_jsonw_begin_object(&w);
  uc_jsonw_key(&w, "detail");
  uc_jsonw_cstring(&w, msg);
  uc_jsonw_end_object(&w);
  size_t n = uc_jsonw_finish(&w);
  return srv_reply(c, r, status, "application/json", buf, n);
}

enum MHD_Result srv_reply_422(struct MHD_Connection *c, struct req *r,
                              const struct srv_invalid *v) {
  size_t cap = 2048 + 6 * v->input_len * 2;
  char *buf = malloc(cap);
  if (!buf)
    return MHD_NO;
  struct uc_jsonw w;
  uc_jsonw_init(&w, buf, cap);
  uc_jsonw_begin_object(&w);
  uc_jsonw_key(&w, "detail");
  uc_jsonw_begin_array(&w);
  uc_jsonw_begin_object(&w);
  uc_jsonw_key(&w, "type");
  uc_jsonw_cstring(&w, v->type);
  uc_jsonw_key(&w, "loc");
  uc_jsonw_begin_array(&w);
  uc_jsonw_cstring(&w, v->where);
  if (v->field)
    uc_jsonw_cstring(&w, v->field);
  uc_jsonw_end_array(&w);
  uc_jsonw_key(&w, "msg");
  uc_jsonw_cstring(&w, v->msg);
  uc_jsonw_key(&w, "input");
  if (v->input)
    uc_jsonw_string(&w, v->input, v->input_len);
  else
    uc_jsonw_null(&w);
  if (v->reason) {
    uc_jsonw_key(&w, "ctx");
    uc_jsonw_begin_object(&w);
    uc_jsonw_key(&w, "reason");
    uc_jsonw_cstring(&w, v->reason);
    uc_jsonw_end_object(&w);
  }
  uc_jsonw_end_object(&w);
  uc_jsonw_end_array(&w);
  uc_jsonw_end_object(&w);
  size_t n = uc_jsonw_finish(&w);
  enum MHD_Result ret = srv_reply(c, r, 422, "application/json", buf, n);
  free(buf);
  return ret;
}

struct query_last {
  const char *name;
  const char *value;
};

static enum MHD_Result query_last(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value) {
  struct query_last *q = cls;
  (void)kind;
  if (strcmp(key, q->name) == 0)
    q->value = value; /* NULL for a name without "=": as if absent */
  return MHD_YES;
}

const char *srv_query(struct MHD_Connection *c, const char *name) {
  struct query_last q = {name, NULL};
  MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, query_last, &q);
  return q.value;
}

int srv_authenticate(struct srv *s, struct MHD_Connection *c, struct req *r, struct srv_auth *a,
                     enum MHD_Result *ret, int admin) {
  const char *key;
  size_t n;
  int found = uc_auth_header_parse(
      MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
      MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-API-Key"), &key, &n);
  enum srv_auth_result res =
      found == UC_AUTH_MALFORMED ? SRV_AUTH_INVALID : srv_auth_key(s->cache, r->w, key, n, a);
  if (res == SRV_AUTH_OK) {
    if (s->log) { /* a valid key is longer than the prefix shown */
      memcpy(r->key_prefix, key, UC_KEY_PREFIX_SHOWN);
      r->key_prefix[UC_KEY_PREFIX_SHOWN] = 0;
    }
    if (admin == SRV_ANY_KEY || (a->key.type == UC_KEY_ADMIN) == (admin != 0))
      return 1;
    *ret = srv_reply_detail(c, r, MHD_HTTP_FORBIDDEN,
                            admin ? "Admin key required."
                                  : "This is an admin key; checks need an active or sandbox key.");
    return 0;
  }
  if (res == SRV_AUTH_UNAVAILABLE) /* a key of another server's, not in our view yet */
    *ret = srv_reply_detail(c, r, MHD_HTTP_SERVICE_UNAVAILABLE,
                            "The store is unavailable: this key cannot be checked now. Try again.");
  else
    *ret = srv_reply_detail(c, r, MHD_HTTP_UNAUTHORIZED,
                            res == SRV_AUTH_NONE ? "No auth provided" : "Invalid API key.");
  return 0;
}

/* Indexed by enum srv_route_id. Paths are matched as sent (before any
 * percent-decoding): "/dashboard%2fapp.js" is not "/dashboard/app.js". */
static const struct route {
  const char *path;
  const char *method; /* GET routes answer HEAD too; NULL: the handler decides */
  int prefix;         /* path + "/..." too (the admin resources, the dashboard's files) */
  enum srv_route_id id;
  srv_handler fn;
} routes[] = {
    {"/v1/email/check", "POST", 0, ROUTE_CHECK_JSON, srv_check_json},
    {"/v1/external-api-requests/check-email", "POST", 0, ROUTE_CHECK_QUERY, srv_check_query},
    {"/healthz", "GET", 0, ROUTE_HEALTHZ, srv_healthz},
    {"/metrics", "GET", 0, ROUTE_METRICS, srv_metrics},
    {"/v1/admin", NULL, 1, ROUTE_ADMIN, srv_admin},          /* methods vary by resource */
    {"/dashboard", NULL, 1, ROUTE_DASHBOARD, srv_dashboard}, /* "/dashboard" redirects */
    /* the collection, /{task_id} and /{task_id}/download */
    {"/v1/external-api-requests/batch-check-emails", NULL, 1, ROUTE_BATCH, srv_batch},
    {"/openapi.json", "GET", 0, ROUTE_OPENAPI, srv_openapi},
    {"/docs", "GET", 0, ROUTE_DOCS, srv_docs},
    {"/", "GET", 0, ROUTE_HOME, srv_home},
    {"/favicon.ico", "GET", 0, ROUTE_FAVICON, srv_favicon},
};
_Static_assert(sizeof routes / sizeof routes[0] == ROUTE_OTHER, "one route per srv_route_id");

/* The Allow header of a 405. */
static const char *allowed(enum srv_route_id route) {
  if (route == ROUTE_ADMIN)
    return "GET, POST, PUT, PATCH, DELETE";
  if (route == ROUTE_BATCH)
    return "GET, POST, DELETE";
  if (route == ROUTE_DASHBOARD || (route < ROUTE_OTHER && strcmp(routes[route].method, "GET") == 0))
    return "GET, HEAD";
  return "POST";
}

/* The route of a raw path: exactly a route's path, or (prefix routes) the
 * path, a slash and more. "/dashboardx" is no route. */
static enum srv_route_id route_of(const char *path, size_t n) {
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
    size_t k = strlen(routes[i].path);
    if (n >= k && memcmp(path, routes[i].path, k) == 0 &&
        (n == k || (routes[i].prefix && path[k] == '/')))
      return routes[i].id;
  }
  return ROUTE_OTHER;
}

static enum MHD_Result dispatch(struct srv *s, struct MHD_Connection *c, const char *method,
                                struct req *r) {
  if (r->route == ROUTE_OTHER)
    return srv_reply_detail(c, r, MHD_HTTP_NOT_FOUND, "Not Found");
  const struct route *rt = &routes[r->route];
  if (!rt->method || strcmp(method, rt->method) == 0 ||
      (strcmp(rt->method, "GET") == 0 && strcmp(method, "HEAD") == 0))
    return rt->fn(s, c, r);
  return srv_reply_detail(c, r, MHD_HTTP_METHOD_NOT_ALLOWED, "Method Not Allowed");
}

static enum MHD_Result too_large(struct srv *s, struct MHD_Connection *c, struct req *r) {
  char msg[128];
  snprintf(msg, sizeof msg, "Request body too large (limit %lu bytes).", s->cfg.body_limit);
  return srv_reply_detail(c, r, MHD_HTTP_CONTENT_TOO_LARGE, msg);
}

/* Past body_limit a body is read and dropped up to DISCARD_MAX, so that the
 * client, still sending, gets to read the 413; past that it is cut short. */
#define DISCARD_MAX (1u << 20)

/* Keeps the body (bounded by body_limit). */
static enum MHD_Result take_upload(struct srv *s, struct MHD_Connection *c, struct req *r,
                                   const char *data, size_t n) {
  if (r->status)
    return MHD_YES; /* already answered: discard */
  int rc = r->overflow ? UC_ETOOBIG : uc_buf_add(&r->body, data, n);
  if (rc == UC_ETOOBIG) {
    r->overflow += n;
    return r->overflow > DISCARD_MAX ? too_large(s, c, r) : MHD_YES;
  }
  return rc == UC_OK ? MHD_YES : MHD_NO;
}

/* libmicrohttpd's URI log callback: called with the raw URI as soon as the
 * request line is in (before the headers and before any decoding). The
 * request's state starts here, so that routing and the access log see the
 * path as sent. Its return value is the request's *ctx. */
void *srv_on_uri(void *cls, const char *uri, struct MHD_Connection *c);
void *srv_on_uri(void *cls, const char *uri, struct MHD_Connection *c) {
  struct srv *s = cls;
  struct srv_worker *w = srv_worker_get(s);
  struct req *r = w ? malloc(sizeof *r) : NULL;
  if (!r)
    return NULL;                /* the handler refuses the request */
  memset(r, 0, SRV_REQ_ZEROED); /* the scratch after it is written before it is read */
  r->srv = s, r->w = w;
  r->conn = srv_conn_of(c);
  r->t0 = srv_now_us();
  uri = uri ? uri : "";
  r->uri_len = strlen(uri);
  size_t n = strcspn(uri, "?");
  r->path_too_long = n > SRV_PATH_MAX;
  r->path_len = r->path_too_long ? SRV_PATH_MAX : n;
  memcpy(r->path, uri, r->path_len);
  r->path[r->path_len] = 0;
  r->route = route_of(r->path, r->path_len);
  srv_bump(&w->n.started, 1);
  return r;
}

/* Whether a header value held a NUL byte. libmicrohttpd 0.9.75 measures
 * values with strlen, so "X: a\0b" arrives as "a": the rest of the line is
 * found in its buffer, between the value's end and the next header's name
 * (the line ends and the colon became NULs there; anything else is what came
 * after a NUL). Applied only where the values lie in order in one buffer, as
 * 0.9.75 keeps them; a folded (obsolete) line lies elsewhere and is refused
 * too, with its own words (RFC 9112 §5.2 allows a 400). */
enum { HEAD_CLEAN, HEAD_NUL, HEAD_FOLDED };

struct nul_scan {
  const char *end; /* of the previous value; NULL before the first */
  const char *limit;
  int found; /* HEAD_* */
};

static int gap_clean(const char *from, const char *to) {
  for (const char *p = from; p < to; p++)
    if (*p)
      return 0;
  return 1;
}

static enum MHD_Result nul_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                  size_t key_size, const char *value, size_t value_size) {
  struct nul_scan *x = cls;
  (void)kind, (void)key_size;
  if (x->end && (key < x->end || key > x->limit))
    x->found = HEAD_FOLDED;
  else if (x->end && !gap_clean(x->end, key))
    x->found = HEAD_NUL;
  x->end = value && value >= key && value + value_size <= x->limit ? value + value_size : NULL;
  if (!x->end && !x->found)
    x->found = HEAD_FOLDED; /* the value was copied elsewhere: joined from folded lines */
  return x->found ? MHD_NO : MHD_YES;
}

/* HEAD_CLEAN, or what is wrong with the request's header lines. */
static int header_lines(struct MHD_Connection *c, const char *method) {
  const union MHD_ConnectionInfo *hs =
      MHD_get_connection_info(c, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
  if (!hs || !method)
    return 0;
  struct nul_scan x = {NULL, method + hs->header_size, HEAD_CLEAN};
  MHD_get_connection_values_n(c, MHD_HEADER_KIND, nul_header, &x);
  if (!x.found && x.end && !gap_clean(x.end, x.limit))
    x.found = HEAD_NUL;
  return x.found;
}

struct lengths {
  const char *first;
  size_t first_len;
  int conflict;
};

static enum MHD_Result content_length(void *cls, enum MHD_ValueKind kind, const char *key,
                                      size_t key_size, const char *value, size_t value_size) {
  struct lengths *l = cls;
  (void)kind;
  if (key_size != 14 || strncasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH, 14) != 0)
    return MHD_YES;
  if (!l->first)
    l->first = value, l->first_len = value_size;
  else if (value_size != l->first_len || memcmp(value, l->first, value_size) != 0)
    l->conflict = 1;
  return MHD_YES;
}

/* What libmicrohttpd 0.9.75 takes but answers badly (a hang, its own HTML),
 * refused here as JSON before the body is read: 414 and 431 below its own
 * buffer's limit, transfer codings it would wait on until the connection
 * closes, a Content-Length it would pick one of, a NUL in a header value. */
static enum MHD_Result refuse_head(struct srv *s, struct MHD_Connection *c, struct req *r,
                                   const char *method) {
  const union MHD_ConnectionInfo *hs =
      MHD_get_connection_info(c, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
  char msg[200];
  if (r->uri_len > s->cfg.header_limit) {
    snprintf(msg, sizeof msg, "Request URI too long (limit %lu bytes).", s->cfg.header_limit);
    return srv_reply_detail(c, r, MHD_HTTP_URI_TOO_LONG, msg);
  }
  if (hs && hs->header_size > s->cfg.header_limit) {
    snprintf(msg, sizeof msg, "Request header fields too large (limit %lu bytes).",
             s->cfg.header_limit);
    return srv_reply_detail(c, r, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE, msg);
  }
  const char *te = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Transfer-Encoding");
  struct lengths cl = {NULL, 0, 0};
  MHD_get_connection_values_n(c, MHD_HEADER_KIND, content_length, &cl);
  if (te && cl.first)
    return srv_reply_detail(c, r, MHD_HTTP_BAD_REQUEST,
                            "Send either Content-Length or Transfer-Encoding, not both.");
  if (te && strcasecmp(te, "chunked") != 0) {
    snprintf(msg, sizeof msg,
             strcasecmp(te, "identity") == 0
                 ? "Transfer-Encoding \"%.40s\" is not a transfer coding: send Content-Length."
                 : "Transfer-Encoding \"%.40s\" is not supported: send Content-Length or "
                   "Transfer-Encoding: chunked.",
             te);
    return srv_reply_detail(
        c, r, strcasecmp(te, "identity") == 0 ? MHD_HTTP_BAD_REQUEST : MHD_HTTP_NOT_IMPLEMENTED,
        msg);
  }
  if (cl.conflict)
    return srv_reply_detail(c, r, MHD_HTTP_BAD_REQUEST, "Conflicting Content-Length headers.");
  switch (header_lines(c, method)) {
  case HEAD_NUL:
    return srv_reply_detail(c, r, MHD_HTTP_BAD_REQUEST, "A header value contains a NUL byte.");
  case HEAD_FOLDED:
    return srv_reply_detail(c, r, MHD_HTTP_BAD_REQUEST,
                            "A header line is folded onto the next (obsolete line folding): "
                            "send each header on one line.");
  default:
    break;
  }
  return MHD_YES;
}

/* The first call: the head is in, the body (if any) not yet. */
static enum MHD_Result begin(struct srv *s, struct MHD_Connection *c, struct req *r,
                             const char *method) {
  r->begun = 1;
  srv_conn_receiving(r->conn);
  size_t mlen = strnlen(method, sizeof r->method - 1);
  memcpy(r->method, method, mlen); /* r is zeroed: the NUL is there */
  enum MHD_Result ret = refuse_head(s, c, r, method);
  if (r->status)
    return ret;
  if (r->route == ROUTE_BATCH && strcmp(method, "POST") == 0 && srv_batch_is_collection(r->path)) {
    ret = srv_batch_begin(s, c, r); /* streamed to disk: body_limit is not its bound */
    /* An authenticated upload may take longer than request_timeout: the idle
     * timeout (each byte resets it) is its bound, and it is not evicted. */
    if (r->upload && !r->status)
      srv_conn_busy(r->conn);
    return ret;
  }
  const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
  unsigned long long declared = cl ? strtoull(cl, NULL, 10) : 0;
  if (declared > s->cfg.body_limit + (unsigned long long)DISCARD_MAX)
    return too_large(s, c, r);
  if (declared > s->cfg.body_limit)
    r->overflow = 1; /* answered once the body is in */
  return MHD_YES;
}

enum MHD_Result srv_on_request(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **ctx);
enum MHD_Result srv_on_request(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **ctx) {
  struct srv *s = cls;
  struct req *r = *ctx;
  (void)version, (void)url; /* routing reads the raw path (srv_on_uri) */
  if (!r)
    return MHD_NO; /* out of memory at the request line */
  if (!r->begun) {
    uc_buf_init_fixed(&r->body, s->cfg.body_limit, r->small_body, sizeof r->small_body);
    return begin(s, c, r, method);
  }
  if (r->deferred) { /* back from the blocking-work thread with its reply */
    struct MHD_Response *resp = r->stash;
    r->stash = NULL, r->deferred = 0;
    enum MHD_Result ret = resp ? MHD_queue_response(c, r->status, resp) : MHD_NO;
    if (resp)
      MHD_destroy_response(resp);
    srv_conn_busy(r->conn);
    return ret;
  }
  if (r->suspended)
    return srv_check_resume(s, c, r);
  if (r->upload && *upload_size) {
    enum MHD_Result ret = srv_batch_data(s, c, r, upload, *upload_size);
    *upload_size = 0;
    return ret;
  }
  if (*upload_size) {
    enum MHD_Result ret = take_upload(s, c, r, upload, *upload_size);
    *upload_size = 0;
    return ret;
  }
  srv_conn_busy(r->conn);
  if (r->status)
    return MHD_YES;
  if (r->overflow)
    return too_large(s, c, r);
  return dispatch(s, c, method, r);
}

/* The address a proxy in front put last in X-Forwarded-For (the one it saw),
 * parsed and written again; 0 when there is none that parses. */
static int forwarded_for(struct MHD_Connection *c, char ip[INET6_ADDRSTRLEN]) {
  const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Forwarded-For");
  struct uc_ip addr;
  if (!h)
    return 0;
  const char *last = strrchr(h, ',');
  last = last ? last + 1 : h;
  if (uc_ip_parse(last, strlen(last), 128, &addr) != UC_OK)
    return 0;
  return inet_ntop(addr.family == 4 ? AF_INET : AF_INET6, addr.addr, ip, INET6_ADDRSTRLEN) != NULL;
}

/* Writes s[0..n) with bytes outside printable ASCII, spaces, quotes and
 * backslashes as \xNN: one line per request whatever a client sends. */
static void escape(char *out, size_t size, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  size_t o = 0;
  for (size_t i = 0; i < n && o + 5 < size; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch <= 0x20 || ch >= 0x7F || ch == '"' || ch == '\\') {
      out[o++] = '\\', out[o++] = 'x', out[o++] = hex[ch >> 4], out[o++] = hex[ch & 15];
    } else {
      out[o++] = (char)ch;
    }
  }
  out[o] = 0;
}

static void log_line(struct srv *s, struct MHD_Connection *c, struct req *r, uint64_t micros,
                     unsigned status) {
  char ip[INET6_ADDRSTRLEN] = "-", when[32], method[sizeof r->method * 4], path[512];
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  if (s->cfg.forwarded_for && forwarded_for(c, ip)) {
    /* the client as the proxy saw it */
  } else if (ci && ci->client_addr) {
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
      inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, ip, sizeof ip);
    else if (sa->sa_family == AF_INET6)
      inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, ip,
                sizeof ip);
  }
  escape(method, sizeof method, r->method[0] ? r->method : "-",
         r->method[0] ? strlen(r->method) : 1);
  /* The admin API and the dashboard by their resource (never a query, never a
   * key: admin paths hold ids, IPs and domains); the rest by route. */
  if (r->route == ROUTE_ADMIN || r->route == ROUTE_DASHBOARD)
    escape(path, sizeof path, r->path, r->path_len);
  else
    snprintf(path, sizeof path, "%s", r->route == ROUTE_OTHER ? "(other)" : routes[r->route].path);
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  pthread_mutex_lock(&s->log_lock);
  char code[12] = "aborted";
  if (status)
    snprintf(code, sizeof code, "%u", status);
  fprintf(s->log, "%s %s %s %s %s %zu %lluus key=%s %s\n", when, ip, method, path, code, r->sent,
          (unsigned long long)micros, r->key_prefix[0] ? r->key_prefix : "-",
          r->subject[0] ? r->subject : "-");
  pthread_mutex_unlock(&s->log_lock);
}

void srv_on_completed(void *cls, struct MHD_Connection *c, void **ctx,
                      enum MHD_RequestTerminationCode toe);
void srv_on_completed(void *cls, struct MHD_Connection *c, void **ctx,
                      enum MHD_RequestTerminationCode toe) {
  struct srv *s = cls;
  struct req *r = *ctx;
  (void)toe;
  if (!r)
    return;
  unsigned status = r->status;
  if (!status) { /* an answer libmicrohttpd made itself (431, 400...), or none */
    const union MHD_ConnectionInfo *hs =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_HTTP_STATUS);
    status = hs ? hs->http_status : 0;
  }
  uint64_t micros = srv_now_us() - r->t0;
  srv_metrics_request(&r->w->n, r->route, status, micros);
  if (s->log)
    log_line(s, c, r, micros, status);
  srv_bump(&r->w->n.completed, 1);
  srv_batch_upload_free(r);
  srv_conn_waiting(r->conn);
  srv_check_release(r);
  if (r->stash)
    MHD_destroy_response(r->stash);
  uc_buf_release(&r->body);
  free(r);
  *ctx = NULL;
}

void srv_on_connection(void *cls, struct MHD_Connection *c, void **socket_ctx,
                       enum MHD_ConnectionNotificationCode code);
void srv_on_connection(void *cls, struct MHD_Connection *c, void **socket_ctx,
                       enum MHD_ConnectionNotificationCode code) {
  struct srv *s = cls;
  if (code == MHD_CONNECTION_NOTIFY_STARTED)
    srv_conns_started(s->conns, c, socket_ctx);
  else
    srv_conns_closed(s->conns, socket_ctx);
}
