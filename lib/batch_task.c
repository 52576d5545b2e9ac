/* Batch tasks as the API shows them: ids, names, states and the status object. */
#include "uc/batch.h"
#include "uc/date.h"
#include "uc/email.h"
#include "uc/error.h"
#include "uc/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *const status_names[] = {"processing", "completed", "failed"};

const char *uc_batch_status_name(enum uc_batch_status s) {
  return (unsigned)s < 3 ? status_names[s] : "failed";
}

int uc_batch_status_parse(const char *s, enum uc_batch_status *out) {
  for (int i = 0; s && i < 3; i++)
    if (strcmp(s, status_names[i]) == 0)
      return *out = (enum uc_batch_status)i, UC_OK;
  return UC_EINVAL;
}

void uc_batch_id_new(char out[UC_BATCH_ID_LEN + 1]) {
  uint8_t b[16];
  randombytes_buf(b, sizeof b);
  b[6] = (uint8_t)((b[6] & 0x0F) | 0x40); /* version 4 */
  b[8] = (uint8_t)((b[8] & 0x3F) | 0x80); /* RFC 4122 variant */
  snprintf(out, UC_BATCH_ID_LEN + 1,
           "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2],
           b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

int uc_batch_id_valid(const char *s, size_t n) {
  if (n != UC_BATCH_ID_LEN)
    return 0;
  for (size_t i = 0; i < n; i++) {
    int dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return 0;
  }
  return 1;
}

int uc_batch_project_valid(const char *name, size_t n) {
  size_t chars = 0;
  if (!uc_utf8_valid(name, n))
    return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)name[i];
    if (c < 0x20 || c == 0x7F)
      return 0;
    chars += (c & 0xC0) != 0x80; /* count lead bytes only */
  }
  return chars >= 1 && chars <= UC_BATCH_PROJECT_CHARS;
}

static json_t *time_or_null(int64_t t) {
  char s[UC_TIME_ISO_MAX];
  return t && uc_time_format(t, UC_TIME_ISO, s, sizeof s) ? json_string(s) : json_null();
}

static json_t *counts_json(const struct uc_batch_counts *n) {
  json_t *types = json_object(), *o = json_object();
  for (int t = 0; t < UC_TYPE_COUNT; t++)
    if (n->type[t])
      json_object_set_new(types, uc_type_name((uc_type)t), json_integer((json_int_t)n->type[t]));
  for (int c = 0; c < 3; c++)
    json_object_set_new(o, uc_category_name((uc_category)c),
                        json_integer((json_int_t)n->category[c]));
  json_object_set_new(o, "types", types);
  json_object_set_new(o, "blank", json_integer((json_int_t)n->blank));
  json_object_set_new(o, "duplicates", json_integer((json_int_t)n->duplicates));
  json_object_set_new(o, "invalid", json_integer((json_int_t)n->type[UC_T_INVALID]));
  return o;
}

char *uc_batch_rec_json(const struct uc_batch_rec *t) {
  json_t *o = json_pack(
      "{s:s, s:s, s:s, s:s, s:s, s:b, s:I, s:I, s:o, s:o, s:o, s:I}", "task_id", t->id, "status",
      uc_batch_status_name(t->status), "project_name", t->project, "file_name", t->filename,
      "format", uc_batch_format_name(t->format), "deduplicate", t->deduplicate, "rows_total",
      (json_int_t)t->counts.rows_total, "rows_done", (json_int_t)t->counts.rows_done, "counts",
      counts_json(&t->counts), "created_at", time_or_null(t->created_at), "finished_at",
      time_or_null(t->finished_at), "size", (json_int_t)(t->upload_bytes + t->result_bytes));
  if (!o)
    return NULL;
  json_object_set_new(o, "failure_reason",
                      t->status == UC_BATCH_FAILED ? json_string(t->reason) : json_null());
  char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(o);
  return text;
}

/* ---- running tasks ---- */

int uc_batch_task_dir(const char *root, int64_t account, const char *id, char *out, size_t size) {
  int n = snprintf(out, size, "%s/%lld/%s", root, (long long)account, id);
  return n > 0 && (size_t)n < size ? UC_OK : UC_ETOOBIG;
}

int uc_batch_task_file(const char *root, const struct uc_batch_rec *t, int result, char *out,
                       size_t size) {
  enum uc_batch_format f = result ? uc_batch_result_format(t->format) : t->format;
  int n = snprintf(out, size, "%s/%lld/%s/%s.%s", root, (long long)t->account_id, t->id,
                   result ? "result" : "upload", uc_batch_format_name(f));
  return n > 0 && (size_t)n < size ? UC_OK : UC_ETOOBIG;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  remove(path);
  return 0;
}

int uc_batch_mkdirs(const char *dir) {
  char p[4096];
  int n = snprintf(p, sizeof p, "%s", dir);
  if (n <= 0 || (size_t)n >= sizeof p)
    return UC_ETOOBIG;
  for (char *s = p + 1; *s; s++)
    if (*s == '/') {
      *s = 0;
      if (mkdir(p, 0700) != 0 && errno != EEXIST)
        return UC_EIO;
      *s = '/';
    }
  return mkdir(p, 0700) == 0 || errno == EEXIST ? UC_OK : UC_EIO;
}

void uc_batch_rmtree(const char *dir) {
  nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

struct run {
  uc_store *st;
  struct uc_batch_rec *t;
  const _Atomic int *stop;
  time_t last;
  enum uc_batch_phase phase; /* of the last write: a new phase is written at once */
  int gone;                  /* the task was deleted meanwhile */
  int lost;                  /* another server took it over (its lease ended) */
};

/* Writes progress about once a second; stops on a stop, a deletion or a takeover. */
static int on_progress(void *ctx, enum uc_batch_phase phase, const struct uc_batch_counts *c) {
  struct run *r = ctx;
  time_t now = time(NULL);
  if (atomic_load(r->stop))
    return 1;
  if (now == r->last && phase == r->phase)
    return 0;
  r->last = now, r->phase = phase;
  r->t->counts = *c;
  int rc = uc_store_batch_update(r->st, r->t);
  r->gone = rc == UC_ENOTFOUND, r->lost = rc == UC_EBUSY;
  return r->gone || r->lost;
}

/* The task's rows as batch usage of its key, on the day it finished: n rows in d. */
static size_t usage_of(const struct uc_batch_rec *t, struct uc_usage_delta d[3]) {
  size_t n = 0;
  if (t->key_type == UC_KEY_SANDBOX || t->status != UC_BATCH_COMPLETED)
    return 0; /* sandbox keys are not billed; a failed task checked nothing */
  for (int c = 0; c < 3; c++)
    if (t->counts.category[c])
      d[n++] = (struct uc_usage_delta){t->key_id, (unsigned)(t->finished_at / 86400),
                                       (uc_category)c, t->counts.category[c], t->finished_at};
  return n;
}

static void finish(struct uc_batch_rec *t, int rc, const char *err, const char *result) {
  struct stat sb;
  t->finished_at = (int64_t)time(NULL);
  if (rc == UC_OK) {
    t->status = UC_BATCH_COMPLETED;
    t->result_bytes = stat(result, &sb) == 0 ? (uint64_t)sb.st_size : 0;
    t->reason[0] = 0;
  } else {
    t->status = UC_BATCH_FAILED;
    snprintf(t->reason, sizeof t->reason, "%s", err[0] ? err : uc_strerror(rc));
  }
}

/* What earlier runs left in the task's directory (a run killed half-way, or
 * one that lost the task to another server): everything but the upload. */
static void clear_runs(const char *dir, const char *upload) {
  DIR *d = opendir(dir);
  struct dirent *e;
  const char *keep = strrchr(upload, '/') + 1;
  while (d && (e = readdir(d))) {
    char path[4096];
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, keep) &&
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name) < (int)sizeof path)
      unlink(path);
  }
  if (d)
    closedir(d);
}

/* The run's file takes the result's name, durable (the directory synced). */
static int publish(const char *from, const char *to, const char *dir, char *err, size_t es) {
  if (rename(from, to) != 0)
    return uc_errorf(err, es, UC_EIO, "the result could not take its name: %s", strerror(errno));
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int ok = fd >= 0 && fsync(fd) == 0;
  if (fd >= 0)
    close(fd);
  return ok ? UC_OK : uc_errorf(err, es, UC_EIO, "%s: %s", dir, strerror(errno));
}

/* A run's own output name, RESULT.NONCE.EXT beside RESULT.EXT: two runs of
 * one task (one of them lost it and has not noticed yet) never write the
 * same file. */
static int run_file(const char *root, const struct uc_batch_rec *t, char *out, size_t size) {
  uint8_t b[8];
  char nonce[17];
  randombytes_buf(b, sizeof b);
  sodium_bin2hex(nonce, sizeof nonce, b, sizeof b);
  int n = snprintf(out, size, "%s/%lld/%s/result.%s.%s", root, (long long)t->account_id, t->id,
                   nonce, uc_batch_format_name(uc_batch_result_format(t->format)));
  return n > 0 && (size_t)n < size ? UC_OK : UC_ETOOBIG;
}

/* Ends a run that stopped before its result: a deletion removes the files,
 * a takeover leaves them to the new owner. */
static int stopped(const struct run *r, const char *dir) {
  if (r->gone)
    uc_batch_rmtree(dir);
  return r->lost ? UC_EBUSY : UC_ECANCELED;
}

/* The result in place and the task's last write (with its usage, at once). */
static int conclude(uc_store *st, struct uc_batch_rec *t, struct run *r, int rc, char *err,
                    const char *mine, const char *out, const char *dir) {
  struct uc_usage_delta d[3];
  if (rc == UC_OK) { /* still ours? then the file may take its name */
    int w = uc_store_batch_update(st, t);
    r->gone = w == UC_ENOTFOUND, r->lost = w == UC_EBUSY;
    if (w) {
      unlink(mine);
      return r->gone || r->lost ? stopped(r, dir) : w;
    }
    rc = publish(mine, out, dir, err, UC_BATCH_REASON_MAX);
  }
  finish(t, rc, err, out);
  /* The state and the usage in one write: a task seen completed has been
   * counted, exactly once, however often it ran. */
  int w = uc_store_batch_finish(st, t, d, usage_of(t, d));
  if (w == UC_ENOTFOUND) { /* deleted at the last moment */
    uc_batch_rmtree(dir);
    return UC_ECANCELED;
  }
  return w; /* UC_EBUSY: another server finishes it (its result replaces this one) */
}

int uc_batch_task_run(uc_store *st, const char *root, struct uc_batch_rec *t,
                      const struct uc_batch_checker *k, const _Atomic int *stop) {
  char in[4096], out[4096], mine[4096], dir[4096], err[UC_BATCH_REASON_MAX] = "";
  struct uc_batch_counts n;
  struct run r = {st, t, stop, 0, 0, 0, 0};
  t->attempts++, t->status = UC_BATCH_PROCESSING, t->result_bytes = 0;
  memset(&t->counts, 0, sizeof t->counts);
  int rc = uc_store_batch_update(st, t);
  if (rc)
    return rc == UC_ENOTFOUND ? UC_ECANCELED : rc;
  if (uc_batch_task_file(root, t, 0, in, sizeof in) ||
      uc_batch_task_file(root, t, 1, out, sizeof out) || run_file(root, t, mine, sizeof mine) ||
      uc_batch_task_dir(root, t->account_id, t->id, dir, sizeof dir))
    return UC_ETOOBIG;
  clear_runs(dir, in);
  struct uc_batch_job job = {in,
                             t->format,
                             mine,
                             uc_batch_result_format(t->format),
                             t->deduplicate,
                             dir,
                             uc_batch_check,
                             (void *)k,
                             on_progress,
                             &r,
                             16, /* a deletion is seen within 16 rows (each may wait on DNS) */
                             stop,
                             1}; /* nothing uploaded is lost: the result is synced */
  rc = uc_batch_clean(&job, &n, err, sizeof err);
  if (rc == UC_ECANCELED || r.gone || r.lost || (rc && atomic_load(stop)))
    return stopped(&r, dir);
  t->counts = n;
  return conclude(st, t, &r, rc, err, mine, out, dir);
}

int uc_batch_task_delete(uc_store *st, const char *root, int64_t account, const char *id) {
  char dir[4096];
  int rc =
      uc_batch_id_valid(id, strlen(id)) ? uc_store_batch_delete(st, account, id) : UC_ENOTFOUND;
  if (rc == UC_OK && uc_batch_task_dir(root, account, id, dir, sizeof dir) == UC_OK)
    uc_batch_rmtree(dir);
  return rc;
}

static int add_bytes(void *arg, const struct uc_batch_rec *t) {
  *(uint64_t *)arg += t->upload_bytes + t->result_bytes;
  return 0;
}

int uc_batch_used_bytes(uc_store *st, int64_t account, uint64_t *bytes) {
  *bytes = 0;
  return uc_store_batch_each(st, account, add_bytes, bytes);
}
