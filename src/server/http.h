/* Internal to the server: one request's state and the reply helpers. */
#ifndef UC_SERVER_HTTP_H
#define UC_SERVER_HTTP_H

#include "server.h"

/* Where a suspended check resumes. */
enum srv_stage {
  SRV_STAGE_BAN_LOOK, /* its IP's ban is not stored yet: the 403 waits for it */
  SRV_STAGE_DNS,      /* DNS is asked */
  SRV_STAGE_BAN_HIT,  /* this answer banned its IP (or hit an unstored ban): it waits for it */
};

/* A check in progress: what it needs to finish on whichever call resumes
 * it. While the request holds (req.held) the view, the lists, the
 * fingerprints and the JSON document its strings point into are references
 * of its own, dropped when it completes. */
struct srv_pending {
  struct MHD_Connection *conn;
  const char *where, *email, *ip;
  size_t n, ip_len;
  struct srv_auth auth;
  uc_lists *lists; /* the thread's, or a reference when held */
  uc_infra *infra; /* the same, or NULL */
  void *doc;       /* the jansson document email and ip point into, or NULL */
  struct uc_ip addr;
  int addr_ok; /* addr holds the check's ip (counted_ip parsed it) */
  enum srv_ip_warning ipw;
  int counted;   /* the IP's black answers count */
  int dry;       /* POST /v1/admin/try: shows the IP's state, counts and remembers nothing */
  int unstored;  /* its ban could not be stored in time: not announced, not counted */
  int uncounted; /* the shared store is down: nothing counted, remaining null */
  enum srv_stage stage;
  struct uc_ban_look look;
  int64_t now;
  struct uc_dns_wait wait;
  struct uc_ban_wait ban_wait;
};

/* One request: everything it needs from its head to its reply lives here,
 * not in the thread that happens to run it, so that a request can be
 * suspended and resumed on another thread. Allocated per request; only the
 * part before path is zeroed. */
#define SRV_PATH_MAX 1024 /* bytes of the raw path kept for routing and the log */

struct req {
  struct srv *srv;
  struct srv_worker *w;  /* the thread's that started it: its views and counters */
  struct srv_conn *conn; /* its connection's registry entry (may be NULL) */
  uint64_t t0;           /* monotonic microseconds at the request line */
  char method[16];
  int begun;          /* the handler ran once: the head is in */
  size_t path_len;    /* of path (the raw path, as sent, without the query) */
  int path_too_long;  /* path holds only the first SRV_PATH_MAX bytes */
  size_t uri_len;     /* of the raw URI with its query */
  struct uc_buf body; /* capped at body_limit; starts in small_body */
  size_t overflow;    /* body bytes dropped past body_limit */
  enum srv_route_id route;
  unsigned status; /* 0 until a reply is queued */
  size_t sent;     /* body bytes of the reply */
  char key_prefix[UC_KEY_PREFIX_SHOWN + 1];
  char subject[300];    /* the domain (or address, if configured) for the access log */
  int suspended;        /* a check waiting (pend.stage says for what) */
  unsigned retry_after; /* seconds, for a Retry-After header (a 429); 0: none */
  int held;             /* pend holds references: released when the request completes */
  void *view;           /* srv_view_hold, while held */
  int deferred;         /* handed to the blocking-work thread (srv_defer): its reply is stashed */
  struct MHD_Response *stash; /* the reply made there, queued when libmicrohttpd resumes it */
  struct srv_upload *upload;  /* a batch upload streaming to disk (routes_batch.c) */
  /* ---- scratch: not zeroed, written before it is read ---- */
  char path[SRV_PATH_MAX + 1]; /* NUL-terminated at path_len */
  struct srv_pending pend;
  struct uc_dns_facts dns; /* what DNS said (valid when have_dns) */
  int have_dns;
  char small_body[256]; /* a check's body fits: no allocation for it */
  struct uc_result res; /* the check's result */
};
#define SRV_REQ_ZEROED offsetof(struct req, path)

typedef enum MHD_Result (*srv_handler)(struct srv *s, struct MHD_Connection *c, struct req *r);

/* Queues a reply with a copy of body. */
enum MHD_Result srv_reply(struct MHD_Connection *c, struct req *r, unsigned status,
                          const char *ctype, const char *body, size_t len);
/* Queues a reply with body, a malloc'd buffer it takes over (and frees, also
 * on failure); NULL body: a 500 "Out of memory.". */
enum MHD_Result srv_reply_owned(struct MHD_Connection *c, struct req *r, unsigned status,
                                const char *ctype, char *body, size_t len);
/* {"detail": msg} */
enum MHD_Result srv_reply_detail(struct MHD_Connection *c, struct req *r, unsigned status,
                                 const char *msg);
/* FastAPI's validation error: {"detail":[{"type","loc":[where,field],"msg","input"[,"ctx"]}]};
 * input NULL writes the whole request object (input_json) or null. */
struct srv_invalid {
  const char *type, *where, *field, *msg;
  const char *input;
  size_t input_len;
  const char *reason; /* ctx.reason, or NULL for no ctx */
};
enum MHD_Result srv_reply_422(struct MHD_Connection *c, struct req *r, const struct srv_invalid *v);

/* The query parameter name's value, the last one when it is repeated (FastAPI's
 * rule, the same on every route); NULL when absent (or the last has no "=").
 * Valid while the request is. */
const char *srv_query(struct MHD_Connection *c, const char *name);

/* Authenticates from Authorization: Bearer or X-API-Key, wanting an admin key
 * (admin 1), a check key (0) or either (SRV_ANY_KEY: the batch routes, which
 * the dashboard calls with its admin key). 1: *a is filled. 0: a 401/403 was
 * queued and *ret holds the result. */
#define SRV_ANY_KEY 2
int srv_authenticate(struct srv *s, struct MHD_Connection *c, struct req *r, struct srv_auth *a,
                     enum MHD_Result *ret, int admin);

enum MHD_Result srv_check_json(struct srv *s, struct MHD_Connection *c, struct req *r);
enum MHD_Result srv_check_query(struct srv *s, struct MHD_Connection *c, struct req *r);
/* POST /v1/admin/try (a authenticated the admin key): the JSON body checked
 * for a's account as an active key would get it, without counting anything
 * (usage, bans, alias memory, metrics): the IP's state is shown, not changed. */
enum MHD_Result srv_check_try(struct srv *s, struct MHD_Connection *c, struct req *r,
                              struct srv_auth *a);
/* Goes on with a suspended check (called when libmicrohttpd resumes it). */
enum MHD_Result srv_check_resume(struct srv *s, struct MHD_Connection *c, struct req *r);
/* Drops what a check held across suspensions (at its completion). */
void srv_check_release(struct req *r);
enum MHD_Result srv_admin(struct srv *s, struct MHD_Connection *c, struct req *r);
enum MHD_Result srv_dashboard(struct srv *s, struct MHD_Connection *c, struct req *r);
/* The batch routes (routes_batch.c): srv_batch_begin takes an upload's first
 * call (headers only), srv_batch_data its body as it comes; srv_batch answers
 * once the body is in. srv_batch_upload_free ends whatever an upload held. */
enum MHD_Result srv_batch(struct srv *s, struct MHD_Connection *c, struct req *r);
enum MHD_Result srv_batch_begin(struct srv *s, struct MHD_Connection *c, struct req *r);
enum MHD_Result srv_batch_data(struct srv *s, struct MHD_Connection *c, struct req *r,
                               const char *data, size_t n);
void srv_batch_upload_free(struct req *r);
/* Whether url names the batch collection (the one path that takes uploads). */
int srv_batch_is_collection(const char *url);
/* GET /openapi.json (any origin may read it), GET /docs (it, rendered), GET /
 * (to the dashboard), GET /favicon.ico: embedded files like the dashboard's. */
enum MHD_Result srv_openapi(struct srv *s, struct MHD_Connection *c, struct req *r);
enum MHD_Result srv_docs(struct srv *s, struct MHD_Connection *c, struct req *r);
enum MHD_Result srv_home(struct srv *s, struct MHD_Connection *c, struct req *r);
enum MHD_Result srv_favicon(struct srv *s, struct MHD_Connection *c, struct req *r);
enum MHD_Result srv_healthz(struct srv *s, struct MHD_Connection *c, struct req *r);
enum MHD_Result srv_metrics(struct srv *s, struct MHD_Connection *c, struct req *r);

uint64_t srv_now_us(void);

#endif
