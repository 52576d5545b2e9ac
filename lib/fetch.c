/* HTTP(S) GETs with libcurl (lib/fetch_int.h): the one place that sets up
 * a transfer, so that list sync and RDAP share its limits. */
#include "fetch_int.h"
#include "uc/error.h"
#include "uc/uc.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void global_init(void) {
  global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int uc__fetch_global(void) {
  pthread_once(&once, global_init);
  return global_rc == CURLE_OK ? UC_OK : UC_EIO;
}

int uc__fetch_is_url(const char *s) {
  return strncasecmp(s, "http://", 7) == 0 || strncasecmp(s, "https://", 8) == 0;
}

void uc__fetch_init(struct uc__fetch *f, const char *url, size_t max_bytes, long timeout_ms) {
  memset(f, 0, sizeof *f);
  snprintf(f->url, sizeof f->url, "%s", url);
  f->timeout_ms = timeout_ms;
  uc_buf_init(&f->body, max_bytes);
}

void uc__fetch_release(struct uc__fetch *f) {
  uc_buf_release(&f->body);
  curl_slist_free_all(f->headers);
  f->headers = NULL;
}

/* Past the cap the transfer stops: returning less than given is curl's "abort". */
static size_t on_body(char *p, size_t size, size_t n, void *arg) {
  struct uc__fetch *f = arg;
  return uc_buf_add(&f->body, p, size * n) == UC_OK ? size * n : 0;
}

static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un) {
  const struct uc__fetch *f = arg;
  (void)dt, (void)dn, (void)ut, (void)un;
  return atomic_load(f->cancel) != 0; /* non-zero: curl stops with CURLE_ABORTED_BY_CALLBACK */
}

static int add_header(struct uc__fetch *f, const char *name, const char *value) {
  char line[UC__FETCH_ETAG_MAX + 64];
  struct curl_slist *next;
  if (!value || !*value)
    return UC_OK;
  snprintf(line, sizeof line, "%s: %s", name, value);
  if (!(next = curl_slist_append(f->headers, line)))
    return UC_ENOMEM;
  f->headers = next;
  return UC_OK;
}

int uc__fetch_prepare(CURL *h, struct uc__fetch *f) {
  if (uc__fetch_global() != UC_OK)
    return UC_EIO;
  uc_buf_reset(&f->body);
  f->status = 0, f->error[0] = 0, f->new_etag[0] = f->new_modified[0] = 0;
  curl_slist_free_all(f->headers);
  f->headers = NULL;
  if (add_header(f, "If-None-Match", f->etag) || add_header(f, "If-Modified-Since", f->modified) ||
      add_header(f, "Accept", f->accept))
    return UC_ENOMEM;
  curl_easy_setopt(h, CURLOPT_URL, f->url);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for DNS timeouts */
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, f->timeout_ms);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, f->timeout_ms);
  curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)f->body.max);
  curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, ""); /* the cap counts decoded bytes */
  curl_easy_setopt(h, CURLOPT_USERAGENT, "usercleaning/" UC_VERSION);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, f->headers);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, f);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, f->error);
  curl_easy_setopt(h, CURLOPT_PRIVATE, f);
  if (f->cancel) {
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, f);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  }
  return UC_OK;
}

/* The value of response header name into out (truncated to size), or "". */
static void header(CURL *h, const char *name, char *out, size_t size) {
  struct curl_header *hv = NULL;
  out[0] = 0;
  if (curl_easy_header(h, name, 0, CURLH_HEADER, -1, &hv) == CURLHE_OK && hv && hv->value &&
      strlen(hv->value) < size)
    snprintf(out, size, "%s", hv->value);
}

int uc__fetch_finish(CURL *h, struct uc__fetch *f, CURLcode rc) {
  char why[CURL_ERROR_SIZE];
  snprintf(why, sizeof why, "%.255s", f->error[0] ? f->error : curl_easy_strerror(rc));
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &f->status);
  if (rc == CURLE_WRITE_ERROR || rc == CURLE_FILESIZE_EXCEEDED) {
    snprintf(f->error, sizeof f->error, "%.300s: larger than %zu bytes", f->url, f->body.max);
    return UC_ETOOBIG;
  }
  if (rc != CURLE_OK) {
    snprintf(f->error, sizeof f->error, "%.300s: %.255s", f->url, why);
    return UC_EIO;
  }
  header(h, "ETag", f->new_etag, sizeof f->new_etag);
  header(h, "Last-Modified", f->new_modified, sizeof f->new_modified);
  f->error[0] = 0;
  return UC_OK;
}

int uc__fetch_run(struct uc__fetch *f) {
  CURL *h = uc__fetch_global() == UC_OK ? curl_easy_init() : NULL;
  if (!h) {
    snprintf(f->error, sizeof f->error, "%.300s: libcurl failed to initialise", f->url);
    return UC_EIO;
  }
  int rc = uc__fetch_prepare(h, f);
  if (rc == UC_OK)
    rc = uc__fetch_finish(h, f, curl_easy_perform(h));
  else
    snprintf(f->error, sizeof f->error, "%.300s: out of memory", f->url);
  curl_easy_cleanup(h);
  return rc;
}
