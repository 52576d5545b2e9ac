/* Prometheus text exposition of the server's counters: each HTTP thread keeps
 * its own (struct srv_counters); rendering sums them. */
#include "server.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

static const unsigned statuses[SRV_STATUS_SLOTS - 1] = {200, 400, 401, 403, 404, 405,
                                                        413, 422, 429, 431, 500, 503};
static const char *const route_names[ROUTE_COUNT] = {
    "check_json", "check_query", "healthz", "metrics", "admin", "dashboard", "other"};
static const double bounds[SRV_LATENCY_BUCKETS] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                                   0.005,   0.01,   0.025,   0.05,   0.1,   0.5};

static int status_slot(unsigned status) {
  for (int i = 0; i < SRV_STATUS_SLOTS - 1; i++)
    if (statuses[i] == status)
      return i;
  return SRV_STATUS_SLOTS - 1; /* other */
}

void srv_metrics_request(struct srv_counters *n, enum srv_route_id r, unsigned status,
                         uint64_t micros) {
  srv_bump(&n->requests[r][status_slot(status)], 1);
  int b = 0;
  while (b < SRV_LATENCY_BUCKETS && (double)micros / 1e6 > bounds[b])
    b++;
  srv_bump(&n->latency[b], 1);
  srv_bump(&n->latency_sum_us, micros);
  srv_bump(&n->latency_count, 1);
}

void srv_metrics_check(struct srv_counters *n, const struct uc_result *r) {
  srv_bump(&n->checks[r->category][r->type], 1);
}

#define SUM(s, field) srv_workers_sum(s, offsetof(struct srv_counters, field))

struct buf {
  char *p;
  size_t len, cap;
  int failed;
};

static void out(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out(struct buf *b, const char *fmt, ...) {
  va_list ap;
  for (;;) {
    va_start(ap, fmt);
    int n = b->failed ? 0 : vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (b->failed || (size_t)n < b->cap - b->len) {
      b->len += (size_t)n;
      return;
    }
    char *p = realloc(b->p, b->cap * 2);
    if (!p) {
      b->failed = 1;
      return;
    }
    b->p = p, b->cap *= 2;
  }
}

static void render_requests(struct srv *s, struct buf *b) {
  out(b, "# HELP usercleaning_http_requests_total HTTP requests by route and status.\n"
         "# TYPE usercleaning_http_requests_total counter\n");
  for (int r = 0; r < ROUTE_COUNT; r++)
    for (int i = 0; i < SRV_STATUS_SLOTS; i++) {
      unsigned long n = SUM(s, requests[r][i]);
      if (!n)
        continue;
      char status[8];
      if (i < SRV_STATUS_SLOTS - 1)
        snprintf(status, sizeof status, "%u", statuses[i]);
      else
        snprintf(status, sizeof status, "other");
      out(b, "usercleaning_http_requests_total{route=\"%s\",status=\"%s\"} %lu\n", route_names[r],
          status, n);
    }
  out(b, "# HELP usercleaning_request_duration_seconds Time from request head to response.\n"
         "# TYPE usercleaning_request_duration_seconds histogram\n");
  unsigned long cum = 0;
  for (int i = 0; i <= SRV_LATENCY_BUCKETS; i++) {
    cum += SUM(s, latency[i]);
    if (i < SRV_LATENCY_BUCKETS)
      out(b, "usercleaning_request_duration_seconds_bucket{le=\"%g\"} %lu\n", bounds[i], cum);
    else
      out(b, "usercleaning_request_duration_seconds_bucket{le=\"+Inf\"} %lu\n", cum);
  }
  out(b, "usercleaning_request_duration_seconds_sum %.6f\n", (double)SUM(s, latency_sum_us) / 1e6);
  out(b, "usercleaning_request_duration_seconds_count %lu\n", (unsigned long)SUM(s, latency_count));
}

static void render_checks(struct srv *s, struct buf *b) {
  out(b, "# HELP usercleaning_checks_total Classified addresses by category and type.\n"
         "# TYPE usercleaning_checks_total counter\n");
  for (int c = 0; c < 3; c++)
    for (int t = 0; t < UC_TYPE_COUNT; t++) {
      unsigned long n = SUM(s, checks[c][t]);
      if (n)
        out(b, "usercleaning_checks_total{category=\"%s\",type=\"%s\"} %lu\n",
            uc_category_name((uc_category)c), uc_type_name((uc_type)t), n);
    }
}

static void render_state(struct srv *s, struct buf *b) {
  uc_lists *l = uc_lists_holder_get(s->lists);
  out(b,
      "# HELP usercleaning_open_connections Connections open now.\n"
      "# TYPE usercleaning_open_connections gauge\n"
      "usercleaning_open_connections %ld\n",
      atomic_load(&s->connections));
  out(b,
      "# HELP usercleaning_lists_info The list snapshot in use.\n"
      "# TYPE usercleaning_lists_info gauge\n"
      "usercleaning_lists_info{version=\"%s\"} 1\n",
      uc_lists_version(l));
  out(b,
      "# HELP usercleaning_lists_entries Entries in the list snapshot.\n"
      "# TYPE usercleaning_lists_entries gauge\n"
      "usercleaning_lists_entries{table=\"domains\"} %zu\n"
      "usercleaning_lists_entries{table=\"local_parts\"} %zu\n",
      uc_lists_domain_count(l), uc_lists_local_count(l));
  out(b, "# HELP usercleaning_lists_source_entries Entries each source contributed.\n"
         "# TYPE usercleaning_lists_source_entries gauge\n");
  struct uc_list_source src;
  for (size_t i = 0; i < uc_lists_source_count(l); i++) {
    uc_lists_source(l, i, &src);
    out(b, "usercleaning_lists_source_entries{source=\"%s\",version=\"%s\"} %u\n", src.name,
        src.version, src.count);
  }
  out(b,
      "# HELP usercleaning_lists_reloads_total List reloads (SIGHUP) by outcome.\n"
      "# TYPE usercleaning_lists_reloads_total counter\n"
      "usercleaning_lists_reloads_total{result=\"ok\"} %lu\n"
      "usercleaning_lists_reloads_total{result=\"failed\"} %lu\n",
      atomic_load(&s->reloads), atomic_load(&s->reload_failures));
  out(b,
      "# HELP usercleaning_start_time_seconds Unix time the server started.\n"
      "# TYPE usercleaning_start_time_seconds gauge\n"
      "usercleaning_start_time_seconds %ld\n",
      (long)s->started);
  uc_lists_unref(l);
}

char *srv_metrics_render(struct srv *s, size_t *len) {
  struct buf b = {malloc(8192), 0, 8192, 0};
  if (!b.p)
    return NULL;
  render_requests(s, &b);
  render_checks(s, &b);
  render_state(s, &b);
  if (b.failed) {
    free(b.p);
    return NULL;
  }
  *len = b.len;
  return b.p;
}
