/* Batch verification over HTTP (SPEC §6), the hosted service's paths:
 *   POST   /v1/external-api-requests/batch-check-emails            upload (multipart)
 *   GET    /v1/external-api-requests/batch-check-emails            the account's tasks
 *   GET    /v1/external-api-requests/batch-check-emails/{id}       status
 *   GET    /v1/external-api-requests/batch-check-emails/{id}/download
 *   DELETE /v1/external-api-requests/batch-check-emails/{id}
 * An upload streams through libmicrohttpd's post processor into a file
 * (never whole in memory), is made durable on the intake thread while the
 * request waits suspended, and becomes a task that a batch worker runs. */
#include "http.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PREFIX "/v1/external-api-requests/batch-check-emails"
#define PREFIX_LEN (sizeof PREFIX - 1)

static const char not_found[] = "Task does not exist or has not started";
static const char quota_msg[] = "Storage quota exceeded, please delete old projects.";

/* An upload in progress: where it is written and what the form said. */
struct srv_upload {
  struct srv *s;
  struct MHD_Connection *conn;
  struct MHD_PostProcessor *pp;
  int fd;
  char tmp[4096];
  uint64_t bytes, used; /* the file's bytes so far; the account's before it */
  uint64_t file_off;    /* the file part's bytes seen (written or not) */
  int64_t account_id, key_id;
  uc_key_type key_type;
  int have_file, bad_ext, too_big, over_quota, write_failed, project_long;
  char filename[UC_BATCH_FILENAME_MAX + 1];
  struct uc_buf project, dedupe;
  int have_project, have_dedupe;
  int finalized; /* the intake thread answered: status and answer */
  unsigned status;
  char *answer;
  struct uc_batch_rec rec;
};

int srv_batch_is_collection(const char *url) {
  return strcmp(url, PREFIX) == 0;
}

void srv_batch_upload_free(struct req *r) {
  struct srv_upload *u = r->upload;
  if (!u)
    return;
  if (u->pp)
    MHD_destroy_post_processor(u->pp);
  if (u->fd >= 0)
    close(u->fd);
  if (u->tmp[0])
    unlink(u->tmp);
  uc_buf_release(&u->project);
  uc_buf_release(&u->dedupe);
  free(u->answer);
  free(u);
  r->upload = NULL;
}

/* 503 with what the store said ("... unreachable"). */
static enum MHD_Result store_failed(struct srv *s, struct MHD_Connection *c, struct req *r,
                                    int rc) {
  char why[300], msg[400];
  uc_store_error(s->store, rc, why, sizeof why);
  snprintf(msg, sizeof msg, "The store cannot be used for batch tasks: %s.", why);
  return srv_reply_detail(c, r, MHD_HTTP_SERVICE_UNAVAILABLE, msg);
}

static enum MHD_Result reply_owned(struct MHD_Connection *c, struct req *r, unsigned status,
                                   char *json) {
  return srv_reply_owned(c, r, status, "application/json", json, json ? strlen(json) : 0);
}

static enum MHD_Result upload_too_large(struct srv *s, struct MHD_Connection *c, struct req *r) {
  char msg[160];
  snprintf(msg, sizeof msg, "File too large (limit %lu bytes).", s->cfg.batch_upload_limit);
  return srv_reply_detail(c, r, MHD_HTTP_CONTENT_TOO_LARGE, msg);
}

/* The file part: its name decides the format; its bytes go to the part file. */
static void take_file(struct srv_upload *u, const char *filename, const char *data, size_t n) {
  enum uc_batch_format f;
  if (!u->have_file) {
    const char *base = filename ? filename : "";
    for (const char *p = base; *p; p++)
      if (*p == '/' || *p == '\\')
        base = p + 1;
    u->have_file = 1;
    snprintf(u->filename, sizeof u->filename, "%s", base);
    u->bad_ext = uc_batch_format_of(base, &f) != UC_OK;
    u->rec.format = f;
  }
  if (u->bad_ext || u->too_big || u->over_quota || u->write_failed || !n)
    return;
  u->bytes += n;
  if (u->bytes > u->s->cfg.batch_upload_limit) {
    u->too_big = 1;
    return;
  }
  if (u->s->cfg.batch_quota && u->used + u->bytes > u->s->cfg.batch_quota) {
    u->over_quota = 1;
    return;
  }
  for (size_t done = 0; done < n;) {
    ssize_t w = write(u->fd, data + done, n - done);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      u->write_failed = 1;
      return;
    }
    done += (size_t)w;
  }
}

static enum MHD_Result on_part(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *filename, const char *content_type,
                               const char *transfer_encoding, const char *data, uint64_t off,
                               size_t size) {
  struct srv_upload *u = cls;
  (void)kind, (void)content_type, (void)transfer_encoding;
  if (strcmp(key, "file") == 0) {
    if (off != u->file_off) /* a second part named file: only the first counts */
      return MHD_YES;
    u->file_off += size;
    take_file(u, filename, data, size);
  } else if (strcmp(key, "project_name") == 0) {
    u->have_project = 1;
    if (uc_buf_add(&u->project, data, size) != UC_OK)
      u->project_long = 1;
  } else if (strcmp(key, "deduplicate") == 0) {
    u->have_dedupe = 1;
    if (uc_buf_add(&u->dedupe, data, size) != UC_OK)
      uc_buf_reset(&u->dedupe), uc_buf_addstr(&u->dedupe, "?"); /* too long to be a boolean */
  }
  return MHD_YES;
}

/* The first call of POST: who, how much room, where the file goes. */
enum MHD_Result srv_batch_begin(struct srv *s, struct MHD_Connection *c, struct req *r) {
  struct srv_auth a = {0};
  enum MHD_Result ret;
  struct srv_upload *u;
  if (!srv_authenticate(s, c, r, &a, &ret, SRV_ANY_KEY))
    return ret;
  if (!(u = calloc(1, sizeof *u)))
    return MHD_NO;
  r->upload = u;
  u->s = s, u->fd = -1, u->conn = c;
  u->account_id = a.account->id, u->key_id = a.key.id, u->key_type = a.key.type;
  uc_buf_init(&u->project, UC_BATCH_PROJECT_MAX);
  uc_buf_init(&u->dedupe, 16);
  const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
  unsigned long long declared = cl ? strtoull(cl, NULL, 10) : 0;
  if (declared > s->cfg.batch_upload_limit + (1ull << 20)) /* the form's own bytes aside */
    return upload_too_large(s, c, r);
  int rc = uc_batch_used_bytes(s->store, u->account_id, &u->used);
  if (rc != UC_OK)
    return store_failed(s, c, r, rc);
  if (s->cfg.batch_quota && u->used >= s->cfg.batch_quota)
    return srv_reply_detail(c, r, MHD_HTTP_CONTENT_TOO_LARGE, quota_msg);
  uc_batch_id_new(u->rec.id);
  snprintf(u->tmp, sizeof u->tmp, "%s/tmp/%s.part", s->cfg.batch_dir, u->rec.id);
  u->fd = open(u->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (u->fd < 0) {
    u->tmp[0] = 0;
    fprintf(stderr, "usercleaning: batch upload: %s/tmp: %s\n", s->cfg.batch_dir, strerror(errno));
    return srv_reply_detail(c, r, MHD_HTTP_INTERNAL_SERVER_ERROR, "Could not store the upload.");
  }
  u->pp = MHD_create_post_processor(c, 64 * 1024, on_part, u); /* NULL: not a form */
  return MHD_YES;
}

enum MHD_Result srv_batch_data(struct srv *s, struct MHD_Connection *c, struct req *r,
                               const char *data, size_t n) {
  struct srv_upload *u = r->upload;
  if (r->status)
    return MHD_YES; /* answered: the rest is dropped */
  if (u->pp && MHD_post_process(u->pp, data, n) != MHD_YES)
    MHD_destroy_post_processor(u->pp), u->pp = NULL, u->write_failed = 2;
  /* Refusals are answered once the body is in (a client still sending would
   * not read them), unless it goes on far past the limit. */
  if (u->file_off > s->cfg.batch_upload_limit + (1u << 20))
    return upload_too_large(s, c, r);
  return MHD_YES;
}

/* ---- the form's fields, FastAPI's way ---- */

static enum MHD_Result invalid(struct MHD_Connection *c, struct req *r, const char *type,
                               const char *field, const char *msg, const struct uc_buf *input) {
  struct srv_invalid v = {
      type, "body", field, msg, input ? input->data : NULL, input ? input->len : 0, NULL};
  return srv_reply_422(c, r, &v);
}

/* Pydantic's booleans. */
static int parse_bool(const struct uc_buf *b, int *out) {
  static const char *const yes[] = {"true", "1", "yes", "on", "t", "y"};
  static const char *const no[] = {"false", "0", "no", "off", "f", "n"};
  for (size_t i = 0; b->data && i < 6; i++) {
    if (strcasecmp(b->data, yes[i]) == 0)
      return *out = 1, 1;
    if (strcasecmp(b->data, no[i]) == 0)
      return *out = 0, 1;
  }
  return 0;
}

/* Which error the form gets first, or 0 when it is a task. */
static enum MHD_Result check_form(struct srv *s, struct MHD_Connection *c, struct req *r, int *ok) {
  struct srv_upload *u = r->upload;
  *ok = 0;
  if (u->too_big)
    return upload_too_large(s, c, r);
  if (u->over_quota)
    return srv_reply_detail(c, r, MHD_HTTP_CONTENT_TOO_LARGE, quota_msg);
  if (u->write_failed == 2)
    return srv_reply_detail(c, r, MHD_HTTP_BAD_REQUEST, "Malformed multipart/form-data body.");
  if (!u->have_file)
    return invalid(c, r, "missing", "file", "Field required", NULL);
  if (u->bad_ext)
    return srv_reply_detail(c, r, MHD_HTTP_BAD_REQUEST, "Invalid file extension.");
  if (!u->have_project)
    return invalid(c, r, "missing", "project_name", "Field required", NULL);
  size_t chars = 0;
  for (size_t i = 0; i < u->project.len; i++)
    chars += (u->project.data[i] & 0xC0) != 0x80;
  if (!chars)
    return invalid(c, r, "string_too_short", "project_name",
                   "String should have at least 1 character", &u->project);
  if (u->project_long || chars > UC_BATCH_PROJECT_CHARS)
    return invalid(c, r, "string_too_long", "project_name",
                   "String should have at most 50 characters", NULL);
  if (!uc_batch_project_valid(u->project.data, u->project.len))
    return invalid(c, r, "value_error", "project_name",
                   "Value error, a project name is UTF-8 text without control characters", NULL);
  u->rec.deduplicate = 1;
  if (u->have_dedupe && !parse_bool(&u->dedupe, &u->rec.deduplicate))
    return invalid(c, r, "bool_parsing", "deduplicate",
                   "Input should be a valid boolean, unable to interpret input", &u->dedupe);
  if (u->write_failed)
    return srv_reply_detail(c, r, MHD_HTTP_INTERNAL_SERVER_ERROR, "Could not store the upload.");
  *ok = 1;
  return MHD_YES;
}

/* On the intake thread: the file durable under its task's directory, then
 * the task stored and queued; the request is resumed with the answer. */
static void finalize(void *arg) {
  struct srv_upload *u = arg;
  struct srv *s = u->s;
  char dir[4096], path[4096];
  int ok = fsync(u->fd) == 0;
  close(u->fd);
  u->fd = -1;
  ok = ok && uc_batch_task_dir(s->cfg.batch_dir, u->account_id, u->rec.id, dir, sizeof dir) == 0 &&
       uc_batch_mkdirs(dir) == 0 &&
       uc_batch_task_file(s->cfg.batch_dir, &u->rec, 0, path, sizeof path) == 0 &&
       rename(u->tmp, path) == 0;
  int dfd = ok ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
  ok = ok && dfd >= 0 && fsync(dfd) == 0;
  if (dfd >= 0)
    close(dfd);
  if (ok)
    u->tmp[0] = 0; /* it is the task's now */
  if (ok && uc_store_batch_insert(s->store, &u->rec) != UC_OK)
    ok = 0, uc_batch_rmtree(dir);
  if (ok) {
    srv_batch_enqueue(s->batch, u->rec.id);
    char body[200];
    snprintf(body, sizeof body,
             "{\"task_id\":\"%s\",\"status\":\"processing\",\"message\":\"File upload successful. "
             "Processing started.\"}",
             u->rec.id);
    u->status = MHD_HTTP_OK;
    u->answer = strdup(body);
  } else {
    fprintf(stderr, "usercleaning: batch upload %s: could not store it: %s\n", u->rec.id,
            strerror(errno));
    u->status = MHD_HTTP_INTERNAL_SERVER_ERROR;
  }
  u->finalized = 1;
  MHD_resume_connection(u->conn); /* srv_on_request runs again: srv_batch answers */
}

static enum MHD_Result upload(struct srv *s, struct MHD_Connection *c, struct req *r) {
  struct srv_upload *u = r->upload;
  int ok;
  if (u->finalized && u->status == MHD_HTTP_OK) {
    char *answer = u->answer; /* the reply owns it now */
    u->answer = NULL;
    return reply_owned(c, r, MHD_HTTP_OK, answer);
  }
  if (u->finalized)
    return srv_reply_detail(c, r, MHD_HTTP_INTERNAL_SERVER_ERROR, "Could not store the upload.");
  if (u->pp && MHD_destroy_post_processor(u->pp) != MHD_YES)
    u->write_failed = 2; /* the body ended inside a part: the file may be cut short */
  u->pp = NULL;
  enum MHD_Result ret = check_form(s, c, r, &ok);
  if (!ok)
    return ret;
  struct uc_batch_rec *t = &u->rec;
  t->account_id = u->account_id, t->key_id = u->key_id, t->key_type = u->key_type;
  snprintf(t->project, sizeof t->project, "%.*s", (int)u->project.len, u->project.data);
  snprintf(t->filename, sizeof t->filename, "%s", u->filename);
  t->status = UC_BATCH_PROCESSING, t->upload_bytes = u->bytes;
  t->created_at = (int64_t)time(NULL);
  MHD_suspend_connection(c);
  if (srv_batch_intake(s->batch, finalize, u) != UC_OK) {
    MHD_resume_connection(c);
    return srv_reply_detail(c, r, MHD_HTTP_SERVICE_UNAVAILABLE, "The server is stopping.");
  }
  return MHD_YES;
}

/* ---- reading and deleting tasks ---- */

struct listing {
  struct uc_buf out;
  int failed;
};

static int list_one(void *arg, const struct uc_batch_rec *t) {
  struct listing *l = arg;
  char *json = uc_batch_rec_json(t);
  if (!json || (l->out.len > 10 && uc_buf_add(&l->out, ",", 1)) || uc_buf_addstr(&l->out, json))
    l->failed = 1;
  free(json);
  return l->failed;
}

static enum MHD_Result list(struct srv *s, struct MHD_Connection *c, struct req *r,
                            int64_t account) {
  struct listing l = {{0}, 0};
  uc_buf_init(&l.out, (size_t)256 << 20);
  uc_buf_addstr(&l.out, "{\"tasks\":[");
  int rc = uc_store_batch_each(s->store, account, list_one, &l);
  if (rc || l.failed || uc_buf_addstr(&l.out, "]}")) {
    uc_buf_release(&l.out);
    return rc ? store_failed(s, c, r, rc)
              : srv_reply_detail(c, r, MHD_HTTP_INTERNAL_SERVER_ERROR, "Out of memory.");
  }
  size_t n;
  char *body = uc_buf_detach(&l.out, &n);
  return srv_reply_owned(c, r, MHD_HTTP_OK, "application/json", body, n);
}

/* "name.csv" -> "name_cleaned.csv" (the result's extension), ASCII only. */
static void download_name(const struct uc_batch_rec *t, char *out, size_t size) {
  const char *dot = strrchr(t->filename, '.');
  int stem = dot ? (int)(dot - t->filename) : (int)strlen(t->filename);
  snprintf(out, size, "%.*s_cleaned.%s", stem, t->filename,
           uc_batch_format_name(uc_batch_result_format(t->format)));
  for (char *p = out; *p; p++)
    if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7F || *p == '"' || *p == '\\')
      *p = '_';
}

/* A completed task whose result is not in this server's batch_dir: the
 * servers of a shared store do not share one directory (docs/deploy.md), or
 * someone removed the file. The operator is told in the log. */
static enum MHD_Result result_missing(struct MHD_Connection *c, struct req *r,
                                      const struct uc_batch_rec *t, const char *path) {
  fprintf(stderr,
          "usercleaning: batch task %s is completed but its result %s is not here (%s): every "
          "server of a shared store needs the same batch_dir\n",
          t->id, path, strerror(errno));
  return srv_reply_detail(c, r, MHD_HTTP_INTERNAL_SERVER_ERROR,
                          "The result file of this task is missing from this server's batch "
                          "directory.");
}

static enum MHD_Result download(struct srv *s, struct MHD_Connection *c, struct req *r,
                                const struct uc_batch_rec *t) {
  char path[4096], name[300], disp[400];
  struct stat sb;
  if (t->status == UC_BATCH_PROCESSING)
    return srv_reply_detail(c, r, MHD_HTTP_NOT_FOUND, "Task is still processing");
  if (t->status == UC_BATCH_FAILED) {
    char msg[UC_BATCH_REASON_MAX + 32];
    snprintf(msg, sizeof msg, "Task failed: %s", t->reason);
    return srv_reply_detail(c, r, MHD_HTTP_NOT_FOUND, msg);
  }
  int fd = uc_batch_task_file(s->cfg.batch_dir, t, 1, path, sizeof path) == UC_OK
               ? open(path, O_RDONLY | O_CLOEXEC)
               : -1;
  if (fd < 0 || fstat(fd, &sb) != 0) {
    if (fd >= 0)
      close(fd);
    return result_missing(c, r, t, path);
  }
  struct MHD_Response *resp = MHD_create_response_from_fd((uint64_t)sb.st_size, fd);
  if (!resp) {
    close(fd);
    return MHD_NO;
  }
  download_name(t, name, sizeof name);
  snprintf(disp, sizeof disp, "attachment; filename=\"%s\"", name);
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, uc_batch_format_mime(t->format));
  MHD_add_response_header(resp, "Content-Disposition", disp);
  enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
  MHD_destroy_response(resp);
  r->status = MHD_HTTP_OK, r->sent = (size_t)sb.st_size;
  return ret;
}

/* A deletion (a store write that may wait for another process's lock, and
 * the files' removal), run on the blocking-work thread like admin requests:
 * the HTTP thread goes on answering checks meanwhile. */
struct deletion {
  struct srv *s;
  struct MHD_Connection *c;
  struct req *r;
  int64_t account;
  char key[UC_BATCH_ID_LEN + 1];
};

static void run_delete(void *arg) {
  struct deletion *d = arg;
  struct srv *s = d->s;
  struct MHD_Connection *c = d->c;
  struct req *r = d->r;
  int rc = uc_batch_task_delete(s->store, s->cfg.batch_dir, d->account, d->key);
  if (rc == UC_ENOTFOUND) {
    srv_reply_detail(c, r, MHD_HTTP_NOT_FOUND, not_found);
  } else if (rc) {
    store_failed(s, c, r, rc);
  } else {
    char body[128];
    int len = snprintf(body, sizeof body, "{\"task_id\":\"%s\",\"deleted\":true}", d->key);
    srv_reply(c, r, MHD_HTTP_OK, "application/json", body, (size_t)len);
  }
  free(d);
  MHD_resume_connection(c); /* the stashed reply is queued there (http.c) */
}

static enum MHD_Result delete_later(struct srv *s, struct MHD_Connection *c, struct req *r,
                                    int64_t account, const char *key) {
  struct deletion *d = malloc(sizeof *d);
  if (!d)
    return srv_reply_detail(c, r, MHD_HTTP_INTERNAL_SERVER_ERROR, "Out of memory.");
  *d = (struct deletion){s, c, r, account, {0}};
  snprintf(d->key, sizeof d->key, "%s", key);
  r->deferred = 1;
  MHD_suspend_connection(c);
  if (srv_defer(s, run_delete, d) != 0) /* stopping: here after all */
    run_delete(d);
  return MHD_YES;
}

static enum MHD_Result item(struct srv *s, struct MHD_Connection *c, struct req *r, int64_t account,
                            const char *id, size_t n, int is_download) {
  struct uc_batch_rec t;
  char key[UC_BATCH_ID_LEN + 1];
  int get = strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0;
  if (!get && !(strcmp(r->method, "DELETE") == 0 && !is_download))
    return srv_reply_detail(c, r, MHD_HTTP_METHOD_NOT_ALLOWED, "Method Not Allowed");
  if (!uc_batch_id_valid(id, n))
    return srv_reply_detail(c, r, MHD_HTTP_NOT_FOUND, not_found);
  memcpy(key, id, n);
  key[n] = 0;
  if (!get)
    return delete_later(s, c, r, account, key);
  int rc = uc_store_batch_get(s->store, account, key, &t);
  if (rc)
    return rc == UC_ENOTFOUND ? srv_reply_detail(c, r, MHD_HTTP_NOT_FOUND, not_found)
                              : store_failed(s, c, r, rc);
  return is_download ? download(s, c, r, &t)
                     : reply_owned(c, r, MHD_HTTP_OK, uc_batch_rec_json(&t));
}

enum MHD_Result srv_batch(struct srv *s, struct MHD_Connection *c, struct req *r) {
  struct srv_auth a = {0};
  enum MHD_Result ret;
  const char *rest = r->path + PREFIX_LEN; /* the raw path: %2F is no separator */
  if (r->path_too_long || (*rest && *rest != '/'))
    return srv_reply_detail(c, r, MHD_HTTP_NOT_FOUND, "Not Found");
  if (r->upload)
    return upload(s, c, r);
  if (!*rest && strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0)
    return srv_reply_detail(c, r, MHD_HTTP_METHOD_NOT_ALLOWED, "Method Not Allowed");
  if (!srv_authenticate(s, c, r, &a, &ret, SRV_ANY_KEY))
    return ret;
  int64_t account = a.account->id;
  if (!*rest)
    return list(s, c, r, account);
  const char *id = rest + 1, *slash = strchr(id, '/');
  if (!slash)
    return item(s, c, r, account, id, strlen(id), 0);
  if (strcmp(slash, "/download") == 0)
    return item(s, c, r, account, id, (size_t)(slash - id), 1);
  return srv_reply_detail(c, r, MHD_HTTP_NOT_FOUND, "Not Found");
}
