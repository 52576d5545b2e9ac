/* Prometheus text exposition of the server's counters: each HTTP thread keeps
 * its own (struct srv_counters); rendering sums them. */
#include "server.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Slot i < SRV_STATUS_SLOTS - 2 is statuses[i]; then "aborted" (no answer:
 * the client left, the connection was ended), then "other". */
static const unsigned statuses[SRV_STATUS_SLOTS - 2] = {
    200, 201, 301, 304, 400, 401, 403, 404, 405, 409, 413, 414, 422, 429, 431, 500, 501, 503, 505};
#define SLOT_ABORTED (SRV_STATUS_SLOTS - 2)
static const char *const route_names[ROUTE_COUNT] = {
    "check_json", "check_query", "healthz", "metrics", "admin",   "dashboard",
    "batch",      "openapi",     "docs",    "home",    "favicon", "other"};
static const double bounds[SRV_LATENCY_BUCKETS] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                                   0.005,   0.01,   0.025,   0.05,   0.1,   0.5};

static int status_slot(unsigned status) {
  if (!status)
    return SLOT_ABORTED;
  for (int i = 0; i < SLOT_ABORTED; i++)
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

/* Appends to b; once an append fails (ENOMEM, the cap) the render fails. */
static void out(struct uc_buf *b, int *failed, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void out(struct uc_buf *b, int *failed, const char *fmt, ...) {
  char line[4096];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (!*failed && (n < 0 || (size_t)n >= sizeof line || uc_buf_add(b, line, (size_t)n)))
    *failed = 1;
}

static void render_requests(struct srv *s, struct uc_buf *b, int *failed) {
  out(b, failed,
      "# HELP usercleaning_http_requests_total HTTP requests by route and status.\n"
      "# TYPE usercleaning_http_requests_total counter\n");
  for (int r = 0; r < ROUTE_COUNT; r++)
    for (int i = 0; i < SRV_STATUS_SLOTS; i++) {
      unsigned long n = SUM(s, requests[r][i]);
      if (!n)
        continue;
      char status[8];
      if (i < SLOT_ABORTED)
        snprintf(status, sizeof status, "%u", statuses[i]);
      else
        snprintf(status, sizeof status, "%s", i == SLOT_ABORTED ? "aborted" : "other");
      out(b, failed, "usercleaning_http_requests_total{route=\"%s\",status=\"%s\"} %lu\n",
          route_names[r], status, n);
    }
  out(b, failed,
      "# HELP usercleaning_request_duration_seconds Time from request head to response.\n"
      "# TYPE usercleaning_request_duration_seconds histogram\n");
  unsigned long cum = 0;
  for (int i = 0; i <= SRV_LATENCY_BUCKETS; i++) {
    cum += SUM(s, latency[i]);
    if (i < SRV_LATENCY_BUCKETS)
      out(b, failed, "usercleaning_request_duration_seconds_bucket{le=\"%g\"} %lu\n", bounds[i],
          cum);
    else
      out(b, failed, "usercleaning_request_duration_seconds_bucket{le=\"+Inf\"} %lu\n", cum);
  }
  out(b, failed, "usercleaning_request_duration_seconds_sum %.6f\n",
      (double)SUM(s, latency_sum_us) / 1e6);
  out(b, failed, "usercleaning_request_duration_seconds_count %lu\n",
      (unsigned long)SUM(s, latency_count));
}

static void render_checks(struct srv *s, struct uc_buf *b, int *failed) {
  out(b, failed,
      "# HELP usercleaning_checks_total Classified addresses by category and type.\n"
      "# TYPE usercleaning_checks_total counter\n");
  for (int c = 0; c < 3; c++)
    for (int t = 0; t < UC_TYPE_COUNT; t++) {
      unsigned long n = SUM(s, checks[c][t]);
      if (n)
        out(b, failed, "usercleaning_checks_total{category=\"%s\",type=\"%s\"} %lu\n",
            uc_category_name((uc_category)c), uc_type_name((uc_type)t), n);
    }
}

static void render_ip_warnings(struct srv *s, struct uc_buf *b, int *failed) {
  static const char *const names[SRV_IPW_COUNT] = {
      NULL, "empty", "unknown", "invalid", "list", "loopback", "placeholder", "ban_unstored"};
  out(b, failed,
      "# HELP usercleaning_ip_warnings_total Checks whose ip was not used as given, by reason.\n"
      "# TYPE usercleaning_ip_warnings_total counter\n");
  for (int i = 1; i < SRV_IPW_COUNT; i++)
    out(b, failed, "usercleaning_ip_warnings_total{reason=\"%s\"} %llu\n", names[i],
        (unsigned long long)SUM(s, ip_warnings[i]));
}

static void render_state(struct srv *s, struct uc_buf *b, int *failed) {
  uc_lists *l = uc_lists_holder_get(s->lists);
  struct srv_conns_stats cs;
  srv_conns_stats(s->conns, &cs);
  out(b, failed,
      "# HELP usercleaning_open_connections Connections open now.\n"
      "# TYPE usercleaning_open_connections gauge\n"
      "usercleaning_open_connections %zu\n"
      "# HELP usercleaning_connection_addresses Client addresses with connections open now.\n"
      "# TYPE usercleaning_connection_addresses gauge\n"
      "usercleaning_connection_addresses %zu\n"
      "# HELP usercleaning_connections_refused_total Connections refused at accept.\n"
      "# TYPE usercleaning_connections_refused_total counter\n"
      "usercleaning_connections_refused_total{reason=\"per_ip\"} %llu\n"
      "# HELP usercleaning_connections_closed_total Connections the server ended, by reason.\n"
      "# TYPE usercleaning_connections_closed_total counter\n"
      "usercleaning_connections_closed_total{reason=\"request_timeout\"} %llu\n"
      "usercleaning_connections_closed_total{reason=\"slots_full\"} %llu\n",
      cs.open, cs.addresses, (unsigned long long)cs.refused_per_ip,
      (unsigned long long)cs.timed_out, (unsigned long long)cs.evicted);
  out(b, failed,
      "# HELP usercleaning_lists_info The list snapshot in use.\n"
      "# TYPE usercleaning_lists_info gauge\n"
      "usercleaning_lists_info{version=\"%s\"} 1\n",
      uc_lists_version(l));
  out(b, failed,
      "# HELP usercleaning_lists_entries Entries in the list snapshot.\n"
      "# TYPE usercleaning_lists_entries gauge\n"
      "usercleaning_lists_entries{table=\"domains\"} %zu\n"
      "usercleaning_lists_entries{table=\"local_parts\"} %zu\n",
      uc_lists_domain_count(l), uc_lists_local_count(l));
  out(b, failed,
      "# HELP usercleaning_lists_source_entries Entries each source contributed.\n"
      "# TYPE usercleaning_lists_source_entries gauge\n");
  struct uc_list_source src;
  for (size_t i = 0; i < uc_lists_source_count(l); i++) {
    uc_lists_source(l, i, &src);
    out(b, failed, "usercleaning_lists_source_entries{source=\"%s\",version=\"%s\"} %u\n", src.name,
        src.version, src.count);
  }
  out(b, failed,
      "# HELP usercleaning_lists_reloads_total List reloads (SIGHUP, a new file, an update) by "
      "outcome.\n"
      "# TYPE usercleaning_lists_reloads_total counter\n"
      "usercleaning_lists_reloads_total{result=\"ok\"} %lu\n"
      "usercleaning_lists_reloads_total{result=\"failed\"} %lu\n",
      atomic_load(&s->reloads), atomic_load(&s->reload_failures));
  out(b, failed,
      "# HELP usercleaning_start_time_seconds Unix time the server started.\n"
      "# TYPE usercleaning_start_time_seconds gauge\n"
      "usercleaning_start_time_seconds %ld\n",
      (long)s->started);
  uc_lists_unref(l);
}

static void render_bans(struct srv *s, struct uc_buf *b, int *failed) {
  struct uc_bans_stats st;
  uc_bans_stats(s->bans, &st);
  out(b, failed,
      "# HELP usercleaning_ban_cache_ips IPs in the ban cache, by state.\n"
      "# TYPE usercleaning_ban_cache_ips gauge\n"
      "usercleaning_ban_cache_ips{state=\"banned\"} %zu\n"
      "usercleaning_ban_cache_ips{state=\"counting\"} %zu\n"
      "usercleaning_ban_cache_ips{state=\"unwritten\"} %zu\n"
      "# HELP usercleaning_ban_cache_limit Counting IPs the cache keeps (--ban-memory).\n"
      "# TYPE usercleaning_ban_cache_limit gauge\n"
      "usercleaning_ban_cache_limit %zu\n",
      st.banned, st.entries - st.banned, st.dirty, st.max_counting);
  out(b, failed,
      "# HELP usercleaning_ban_cache_evictions_total Counting IPs that left memory.\n"
      "# TYPE usercleaning_ban_cache_evictions_total counter\n"
      "usercleaning_ban_cache_evictions_total %llu\n"
      "# HELP usercleaning_ban_store_reads_total Counts read back for IPs that had left memory.\n"
      "# TYPE usercleaning_ban_store_reads_total counter\n"
      "usercleaning_ban_store_reads_total %llu\n"
      "# HELP usercleaning_ban_write_errors_total Failed writes of bans or counts (retried).\n"
      "# TYPE usercleaning_ban_write_errors_total counter\n"
      "usercleaning_ban_write_errors_total %llu\n"
      "# HELP usercleaning_bans_unstored Bans in memory not stored yet (never announced before).\n"
      "# TYPE usercleaning_bans_unstored gauge\n"
      "usercleaning_bans_unstored %zu\n"
      "# HELP usercleaning_ban_wait_timeouts_total Answers that gave up waiting for their ban to "
      "be stored (ban_write_timeout).\n"
      "# TYPE usercleaning_ban_wait_timeouts_total counter\n"
      "usercleaning_ban_wait_timeouts_total %llu\n"
      "# HELP usercleaning_ban_aggregated_total /48 bans made from banned prefixes inside them.\n"
      "# TYPE usercleaning_ban_aggregated_total counter\n"
      "usercleaning_ban_aggregated_total %llu\n",
      (unsigned long long)st.evicted, (unsigned long long)st.store_reads,
      (unsigned long long)st.write_errors, st.unstored, (unsigned long long)st.wait_timeouts,
      (unsigned long long)st.aggregated);
}

static void render_store(struct srv *s, struct uc_buf *b, int *failed) {
  struct uc_ratelimit_stats rl;
  uc_ratelimit_stats(s->rate, &rl);
  out(b, failed,
      "# HELP usercleaning_store_up Whether the store answers (0: down; checks go on from the "
      "lists).\n"
      "# TYPE usercleaning_store_up gauge\n"
      "usercleaning_store_up{backend=\"%s\"} %d\n"
      "# HELP usercleaning_store_poll_failures_total Background reads of the store's changes "
      "that failed.\n"
      "# TYPE usercleaning_store_poll_failures_total counter\n"
      "usercleaning_store_poll_failures_total %llu\n"
      "# HELP usercleaning_ban_hits_uncounted_total Black answers not counted towards a ban: "
      "the store was down.\n"
      "# TYPE usercleaning_ban_hits_uncounted_total counter\n"
      "usercleaning_ban_hits_uncounted_total %llu\n",
      uc_store_backend(s->store), !atomic_load(&s->store_down),
      (unsigned long long)atomic_load(&s->store_failures),
      (unsigned long long)atomic_load(&s->bans_uncounted));
  out(b, failed,
      "# HELP usercleaning_rate_limited_total Checks refused with 429 (per-key rate limits).\n"
      "# TYPE usercleaning_rate_limited_total counter\n"
      "usercleaning_rate_limited_total %llu\n"
      "# HELP usercleaning_rate_limit_store_errors_total Rate-limited checks let through: the "
      "store was down.\n"
      "# TYPE usercleaning_rate_limit_store_errors_total counter\n"
      "usercleaning_rate_limit_store_errors_total %llu\n"
      "# HELP usercleaning_rate_limit_buckets Keys with a rate-limit bucket in memory (one "
      "server, no shared store).\n"
      "# TYPE usercleaning_rate_limit_buckets gauge\n"
      "usercleaning_rate_limit_buckets %zu\n",
      (unsigned long long)rl.limited, (unsigned long long)rl.store_errors, rl.buckets);
}

static void render_keys(struct srv *s, struct uc_buf *b, int *failed) {
  uint64_t lookups, negative, legacy;
  srv_cache_stats(s->cache, &lookups, &negative, &legacy);
  out(b, failed,
      "# HELP usercleaning_key_store_lookups_total Keys looked up in the store (not in memory).\n"
      "# TYPE usercleaning_key_store_lookups_total counter\n"
      "usercleaning_key_store_lookups_total %llu\n"
      "# HELP usercleaning_key_negative_hits_total Unknown keys answered from memory.\n"
      "# TYPE usercleaning_key_negative_hits_total counter\n"
      "usercleaning_key_negative_hits_total %llu\n"
      "# HELP usercleaning_key_legacy_refused_total Unknown keys with an unkeyed (pre-secret) "
      "checksum, refused from memory.\n"
      "# TYPE usercleaning_key_legacy_refused_total counter\n"
      "usercleaning_key_legacy_refused_total %llu\n",
      (unsigned long long)lookups, (unsigned long long)negative, (unsigned long long)legacy);
}

static void render_dns(struct srv *s, struct uc_buf *b, int *failed) {
  struct uc_dns_stats st;
  if (!s->dns)
    return;
  uc_dns_stats(s->dns, &st);
  out(b, failed,
      "# HELP usercleaning_dns_lookups_total Domains asked of the resolver, by outcome.\n"
      "# TYPE usercleaning_dns_lookups_total counter\n"
      "usercleaning_dns_lookups_total{result=\"cached\"} %llu\n"
      "usercleaning_dns_lookups_total{result=\"started\"} %llu\n"
      "usercleaning_dns_lookups_total{result=\"waited\"} %llu\n"
      "usercleaning_dns_lookups_total{result=\"deadline\"} %llu\n"
      "usercleaning_dns_lookups_total{result=\"shed\"} %llu\n",
      (unsigned long long)st.hits, (unsigned long long)st.started, (unsigned long long)st.waits,
      (unsigned long long)st.timeouts, (unsigned long long)st.shed);
  out(b, failed,
      "# HELP usercleaning_dns_queries_total Queries sent (MX, A, AAAA).\n"
      "# TYPE usercleaning_dns_queries_total counter\n"
      "usercleaning_dns_queries_total %llu\n"
      "# HELP usercleaning_dns_failures_total Lookups that failed (timeout, SERVFAIL, refused).\n"
      "# TYPE usercleaning_dns_failures_total counter\n"
      "usercleaning_dns_failures_total %llu\n"
      "# HELP usercleaning_dns_cache_domains Domains in the DNS cache, and lookups in flight.\n"
      "# TYPE usercleaning_dns_cache_domains gauge\n"
      "usercleaning_dns_cache_domains %zu\n"
      "usercleaning_dns_in_flight %zu\n",
      (unsigned long long)st.queries, (unsigned long long)st.failures, st.cached, st.in_flight);
  out(b, failed,
      "# HELP usercleaning_dns_resolver_denying 1 while the resolver says the root zone does "
      "not exist (its NXDOMAIN answers are then not believed).\n"
      "# TYPE usercleaning_dns_resolver_denying gauge\n"
      "usercleaning_dns_resolver_denying %d\n"
      "# HELP usercleaning_dns_nxdomain_disbelieved_total NXDOMAIN answers of a denying resolver, "
      "taken as nothing known.\n"
      "# TYPE usercleaning_dns_nxdomain_disbelieved_total counter\n"
      "usercleaning_dns_nxdomain_disbelieved_total %llu\n",
      st.denying, (unsigned long long)st.disbelieved);
}

/* A label value as the text format wants it: \\, \" and \n escaped, at most 200 bytes. */
static const char *label(const char *v, char *buf, size_t size) {
  size_t n = 0;
  for (; *v && n + 3 < size && n < 200; v++) {
    if (*v == '\\' || *v == '"')
      buf[n++] = '\\', buf[n++] = *v;
    else if (*v == '\n')
      buf[n++] = '\\', buf[n++] = 'n';
    else
      buf[n++] = *v;
  }
  buf[n] = 0;
  return buf;
}

/* Each URL source's last update and last error (the sync state beside the snapshot). */
static void render_sync(struct srv *s, struct uc_buf *b, int *failed) {
  struct uc_sync_source_state x;
  char name[256], msg[256];
  out(b, failed,
      "# HELP usercleaning_lists_source_last_success_timestamp_seconds Last time a URL source "
      "was fetched and found current (accepted or not modified).\n"
      "# TYPE usercleaning_lists_source_last_success_timestamp_seconds gauge\n");
  pthread_mutex_lock(&s->sync.lock);
  size_t n = uc_sync_state_count(s->sync.state);
  for (size_t i = 0; i < n; i++) {
    uc_sync_state_source(s->sync.state, i, &x);
    out(b, failed, "usercleaning_lists_source_last_success_timestamp_seconds{source=\"%s\"} %lld\n",
        label(x.name, name, sizeof name), (long long)x.last_success);
  }
  out(b, failed,
      "# HELP usercleaning_lists_source_last_error_timestamp_seconds Last time an update of a URL "
      "source failed or was refused; the error is a label of "
      "usercleaning_lists_source_last_error_info.\n"
      "# TYPE usercleaning_lists_source_last_error_timestamp_seconds gauge\n");
  for (size_t i = 0; i < n; i++) {
    uc_sync_state_source(s->sync.state, i, &x);
    out(b, failed, "usercleaning_lists_source_last_error_timestamp_seconds{source=\"%s\"} %lld\n",
        label(x.name, name, sizeof name), (long long)x.last_error_at);
  }
  out(b, failed,
      "# HELP usercleaning_lists_source_last_error_info The last error of a URL source.\n"
      "# TYPE usercleaning_lists_source_last_error_info gauge\n");
  for (size_t i = 0; i < n; i++) {
    uc_sync_state_source(s->sync.state, i, &x);
    if (x.last_error[0])
      out(b, failed, "usercleaning_lists_source_last_error_info{source=\"%s\",error=\"%s\"} 1\n",
          label(x.name, name, sizeof name), label(x.last_error, msg, sizeof msg));
  }
  pthread_mutex_unlock(&s->sync.lock);
  out(b, failed,
      "# HELP usercleaning_lists_updates_total Scheduled list updates (--lists-update-interval) "
      "by result (failed: the run, or a source of it, failed or was refused).\n"
      "# TYPE usercleaning_lists_updates_total counter\n"
      "usercleaning_lists_updates_total{result=\"ok\"} %lu\n"
      "usercleaning_lists_updates_total{result=\"failed\"} %lu\n",
      atomic_load(&s->sync.updates_ok), atomic_load(&s->sync.updates_failed));
}

static void render_rdap(struct srv *s, struct uc_buf *b, int *failed) {
  struct uc_rdap_stats st;
  if (!s->rdap)
    return;
  uc_rdap_stats(s->rdap, &st);
  out(b, failed,
      "# HELP usercleaning_rdap_lookups_total Domain ages asked for by checks, by outcome.\n"
      "# TYPE usercleaning_rdap_lookups_total counter\n"
      "usercleaning_rdap_lookups_total{result=\"known\"} %llu\n"
      "usercleaning_rdap_lookups_total{result=\"queued\"} %llu\n"
      "usercleaning_rdap_lookups_total{result=\"queue_full\"} %llu\n",
      (unsigned long long)SUM(s, ages_known), (unsigned long long)st.queued,
      (unsigned long long)st.dropped);
  out(b, failed,
      "# HELP usercleaning_rdap_results_total Lookups finished by the RDAP worker, by result.\n"
      "# TYPE usercleaning_rdap_results_total counter\n"
      "usercleaning_rdap_results_total{result=\"store\"} %llu\n"
      "usercleaning_rdap_results_total{result=\"found\"} %llu\n"
      "usercleaning_rdap_results_total{result=\"not_found\"} %llu\n"
      "usercleaning_rdap_results_total{result=\"no_service\"} %llu\n"
      "usercleaning_rdap_results_total{result=\"failed\"} %llu\n"
      "# HELP usercleaning_rdap_requests_total Requests sent to RDAP servers.\n"
      "# TYPE usercleaning_rdap_requests_total counter\n"
      "usercleaning_rdap_requests_total %llu\n",
      (unsigned long long)st.store_hits, (unsigned long long)st.found,
      (unsigned long long)st.not_found, (unsigned long long)st.no_service,
      (unsigned long long)st.failed, (unsigned long long)st.requests);
  out(b, failed,
      "# HELP usercleaning_rdap_domains Domains in the RDAP memory cache, and waiting or in "
      "flight.\n"
      "# TYPE usercleaning_rdap_domains gauge\n"
      "usercleaning_rdap_domains{state=\"cached\"} %zu\n"
      "usercleaning_rdap_domains{state=\"pending\"} %zu\n"
      "# HELP usercleaning_rdap_bootstrap_services TLDs the IANA bootstrap in use covers (0: "
      "none loaded yet).\n"
      "# TYPE usercleaning_rdap_bootstrap_services gauge\n"
      "usercleaning_rdap_bootstrap_services %zu\n",
      st.cached, st.pending, st.services);
  char msg[256];
  if (st.bootstrap_error[0]) /* why domain_age stays unknown */
    out(b, failed,
        "# HELP usercleaning_rdap_bootstrap_error_info Why the last fetch of the bootstrap "
        "failed (retried every 5 minutes).\n"
        "# TYPE usercleaning_rdap_bootstrap_error_info gauge\n"
        "usercleaning_rdap_bootstrap_error_info{error=\"%s\"} 1\n",
        label(st.bootstrap_error, msg, sizeof msg));
}

static void render_batch(struct srv *s, struct uc_buf *b, int *failed) {
  struct srv_batch_stats st;
  if (!s->batch)
    return;
  srv_batch_stats(s->batch, &st);
  out(b, failed,
      "# HELP usercleaning_batch_tasks_total Batch tasks finished by this process, by status.\n"
      "# TYPE usercleaning_batch_tasks_total counter\n"
      "usercleaning_batch_tasks_total{status=\"completed\"} %llu\n"
      "usercleaning_batch_tasks_total{status=\"failed\"} %llu\n"
      "# HELP usercleaning_batch_rows_total Rows of the batch tasks completed.\n"
      "# TYPE usercleaning_batch_rows_total counter\n"
      "usercleaning_batch_rows_total %llu\n"
      "# HELP usercleaning_batch_queued Batch tasks waiting for a worker.\n"
      "# TYPE usercleaning_batch_queued gauge\n"
      "usercleaning_batch_queued %llu\n"
      "# HELP usercleaning_batch_running Batch tasks this process runs now.\n"
      "# TYPE usercleaning_batch_running gauge\n"
      "usercleaning_batch_running %llu\n"
      "# HELP usercleaning_batch_claims_expired_total Tasks whose claim ran out: taken over from "
      "another server, or lost to one.\n"
      "# TYPE usercleaning_batch_claims_expired_total counter\n"
      "usercleaning_batch_claims_expired_total{result=\"taken_over\"} %llu\n"
      "usercleaning_batch_claims_expired_total{result=\"lost\"} %llu\n",
      (unsigned long long)st.completed, (unsigned long long)st.failed, (unsigned long long)st.rows,
      (unsigned long long)st.queued, (unsigned long long)st.running,
      (unsigned long long)st.taken_over, (unsigned long long)st.lost);
}

char *srv_metrics_render(struct srv *s, size_t *len) {
  struct uc_buf b;
  int failed = 0;
  uc_buf_init(&b, (size_t)1 << 24);
  render_requests(s, &b, &failed);
  render_checks(s, &b, &failed);
  render_ip_warnings(s, &b, &failed);
  render_state(s, &b, &failed);
  render_bans(s, &b, &failed);
  render_store(s, &b, &failed);
  render_keys(s, &b, &failed);
  render_dns(s, &b, &failed);
  render_sync(s, &b, &failed);
  render_rdap(s, &b, &failed);
  render_batch(s, &b, &failed);
  if (failed) {
    uc_buf_release(&b);
    return NULL;
  }
  return uc_buf_detach(&b, len);
}
