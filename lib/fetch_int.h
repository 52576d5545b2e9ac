/* Internal: one HTTP(S) GET with libcurl, the way libuc fetches anything
 * (list sources in lib/sync.c, the RDAP bootstrap and answers in lib/rdap.c):
 * http and https only, a total deadline, a hard size cap on the decoded body,
 * a few redirects, conditional requests, and the validators of the answer.
 * A caller drives the easy handle itself (curl_easy_perform, or a multi
 * handle) between uc__fetch_prepare and uc__fetch_finish; uc__fetch_run does
 * both around curl_easy_perform. */
#ifndef UC_LIB_FETCH_INT_H
#define UC_LIB_FETCH_INT_H

#include <curl/curl.h>
#include <stdatomic.h>
#include <stddef.h>

#include "uc/buf.h"

#define UC__FETCH_ETAG_MAX 256
#define UC__FETCH_DATE_MAX 64

struct uc__fetch {
  /* in: set by uc__fetch_init, then by the caller */
  char url[2048];
  long timeout_ms;                   /* the whole transfer, connection included */
  const char *accept;                /* an Accept header value, or NULL */
  char etag[UC__FETCH_ETAG_MAX];     /* If-None-Match when not "" */
  char modified[UC__FETCH_DATE_MAX]; /* If-Modified-Since when not "" (as the server sent it) */
  const atomic_int *cancel;          /* non-zero stops the transfer (may be NULL) */
  /* out: set by uc__fetch_finish */
  struct uc_buf body;                    /* capped at max_bytes (uc__fetch_init) */
  long status;                           /* HTTP status; 0 when no answer came */
  char new_etag[UC__FETCH_ETAG_MAX];     /* the answer's ETag, "" when none */
  char new_modified[UC__FETCH_DATE_MAX]; /* its Last-Modified, "" when none */
  char error[600];                       /* for people, when uc__fetch_finish fails */
  /* private */
  struct curl_slist *headers;
};

/* Calls curl_global_init once per process (thread-safe); UC_OK or UC_EIO. */
int uc__fetch_global(void);

void uc__fetch_init(struct uc__fetch *f, const char *url, size_t max_bytes, long timeout_ms);
/* Frees the body and the request headers. */
void uc__fetch_release(struct uc__fetch *f);

/* Sets h up for f (f must stay put until uc__fetch_finish). UC_OK or UC_ENOMEM. */
int uc__fetch_prepare(CURL *h, struct uc__fetch *f);
/* Reads the outcome of h's transfer (rc: what curl_easy_perform or the
 * multi's message said): UC_OK when an answer came, whatever its status
 * (f->status, f->new_etag, f->new_modified, f->body); UC_ETOOBIG when it
 * passed the cap; UC_EIO otherwise (f->error says why: a timeout, a refused
 * connection, a bad URL...). */
int uc__fetch_finish(CURL *h, struct uc__fetch *f, CURLcode rc);
/* prepare + curl_easy_perform + finish on a handle of its own. */
int uc__fetch_run(struct uc__fetch *f);

/* Whether s names an http:// or https:// URL (else it is a file path). */
int uc__fetch_is_url(const char *s);

#endif
