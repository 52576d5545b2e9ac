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
  enum MHD_Result ret = MHD_queue_response(c, status, resp);
  MHD_destroy_response(resp);
  r->status = status;
  r->sent = len;
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

/* Indexed by enum srv_route_id. */
static const struct route {
  const char *path;
  const char *method; /* GET routes answer HEAD too; NULL: the handler decides */
  enum srv_route_id id;
  srv_handler fn;
} routes[] = {
    {"/v1/email/check", "POST", ROUTE_CHECK_JSON, srv_check_json},
    {"/v1/external-api-requests/check-email", "POST", ROUTE_CHECK_QUERY, srv_check_query},
    {"/healthz", "GET", ROUTE_HEALTHZ, srv_healthz},
    {"/metrics", "GET", ROUTE_METRICS, srv_metrics},
    {"/v1/admin/", NULL, ROUTE_ADMIN, srv_admin},         /* a prefix; methods vary by resource */
    {"/dashboard", NULL, ROUTE_DASHBOARD, srv_dashboard}, /* a prefix: /dashboard/... */
    /* a prefix: the collection, /{task_id} and /{task_id}/download */
    {"/v1/external-api-requests/batch-check-emails", NULL, ROUTE_BATCH, srv_batch},
    {"/openapi.json", "GET", ROUTE_OPENAPI, srv_openapi},
    {"/docs", "GET", ROUTE_DOCS, srv_docs},
    {"/", "GET", ROUTE_HOME, srv_home},
    {"/favicon.ico", "GET", ROUTE_FAVICON, srv_favicon},
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

static enum srv_route_id route_of(const char *url) {
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
    if (routes[i].method ? strcmp(url, routes[i].path) == 0
                         : strncmp(url, routes[i].path, strlen(routes[i].path)) == 0)
      return routes[i].id;
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

enum MHD_Result srv_on_request(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **ctx);
enum MHD_Result srv_on_request(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **ctx) {
  struct srv *s = cls;
  struct req *r = *ctx;
  (void)version;
  if (!r) {
    struct srv_worker *w = srv_worker_get(s);
    if (!w || !(r = malloc(sizeof *r)))
      return MHD_NO;
    memset(r, 0, SRV_REQ_ZEROED); /* the scratch after it is written before it is read */
    r->srv = s, r->w = w;
    uc_buf_init_fixed(&r->body, s->cfg.body_limit, r->small_body, sizeof r->small_body);
    r->t0 = srv_now_us();
    r->route = route_of(url);
    size_t mlen = strnlen(method, sizeof r->method - 1);
    memcpy(r->method, method, mlen); /* r is zeroed: the NUL is there */
    *ctx = r;
    srv_bump(&w->n.started, 1);
    if (r->route == ROUTE_BATCH && strcmp(method, "POST") == 0 && srv_batch_is_collection(url))
      return srv_batch_begin(s, c, r); /* streamed to disk: body_limit is not its bound */
    const char *cl =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    unsigned long long declared = cl ? strtoull(cl, NULL, 10) : 0;
    if (declared > s->cfg.body_limit + (unsigned long long)DISCARD_MAX)
      return too_large(s, c, r);
    if (declared > s->cfg.body_limit)
      r->overflow = 1; /* answered once the body is in */
    return MHD_YES;
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
  if (r->status)
    return MHD_YES;
  if (r->overflow)
    return too_large(s, c, r);
  r->url = url;
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

static void log_line(struct srv *s, struct MHD_Connection *c, struct req *r, uint64_t micros) {
  char ip[INET6_ADDRSTRLEN] = "-", when[32];
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
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  pthread_mutex_lock(&s->log_lock);
  fprintf(s->log, "%s %s %s %s %u %zu %lluus key=%s %s\n", when, ip, r->method,
          r->route == ROUTE_OTHER ? "(other)" : routes[r->route].path, r->status, r->sent,
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
  uint64_t micros = srv_now_us() - r->t0;
  srv_metrics_request(&r->w->n, r->route, r->status, micros);
  if (s->log)
    log_line(s, c, r, micros);
  srv_bump(&r->w->n.completed, 1);
  srv_batch_upload_free(r);
  uc_buf_release(&r->body);
  free(r);
  *ctx = NULL;
}

void srv_on_connection(void *cls, struct MHD_Connection *c, void **socket_ctx,
                       enum MHD_ConnectionNotificationCode code);
void srv_on_connection(void *cls, struct MHD_Connection *c, void **socket_ctx,
                       enum MHD_ConnectionNotificationCode code) {
  struct srv *s = cls;
  (void)c, (void)socket_ctx;
  atomic_fetch_add(&s->connections, code == MHD_CONNECTION_NOTIFY_STARTED ? 1 : -1);
}
