/* uc_batch_task_run against a real SQLite store and the real engine: a run
 * completes once (its usage with its final state, the files of earlier runs
 * cleared, only the result left), a run whose task another server claimed
 * writes nothing, a deleted task stops, a failed task is not counted. */
#include "unit.h"

#include <dirent.h>
#include <stdatomic.h>
#include <time.h>

struct fx {
  char dir[64], root[96];
  uc_store *st;
  int64_t account, key;
  struct uc_policy policy;
  struct uc_batch_checker k;
  _Atomic int stop;
};

static int fx_setup(void **state) {
  struct fx *f = calloc(1, sizeof *f);
  char url[160], err[256], text[UC_KEY_MAX + 1];
  struct uc_account_rec a;
  struct uc_key_rec k;
  snprintf(f->dir, sizeof f->dir, "/tmp/uc-task-XXXXXX");
  if (!mkdtemp(f->dir))
    return -1;
  snprintf(f->root, sizeof f->root, "%s/batch", f->dir);
  snprintf(url, sizeof url, "sqlite://%s/store.db", f->dir);
  if (uc_store_open(url, UC_STORE_CREATE, &f->st, err, sizeof err) != UC_OK ||
      uc_store_account_create(f->st, "acme", &a) != UC_OK ||
      uc_store_key_create(f->st, a.id, "web", UC_KEY_ACTIVE, &k, text) != UC_OK)
    return -1;
  f->account = a.id, f->key = k.id;
  uc_policy_init(&f->policy);
  f->k = (struct uc_batch_checker){unit_default_lists(), &f->policy, NULL, NULL, 0, 0};
  *state = f;
  return 0;
}

static int fx_teardown(void **state) {
  struct fx *f = *state;
  uc_store_close(f->st);
  uc_batch_rmtree(f->dir);
  free(f);
  return 0;
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void put(const char *path, const char *text) {
  FILE *fp = fopen(path, "w");
  assert_non_null(fp);
  fputs(text, fp);
  fclose(fp);
}

/* A task with upload `text`, stored, and claimed by `owner` as a worker would. */
static struct uc_batch_rec task(struct fx *f, const char *text, const char *owner) {
  struct uc_batch_rec t;
  char path[4096], dir[4096];
  memset(&t, 0, sizeof t);
  uc_batch_id_new(t.id);
  t.account_id = f->account, t.key_id = f->key, t.key_type = UC_KEY_ACTIVE;
  snprintf(t.project, sizeof t.project, "p");
  snprintf(t.filename, sizeof t.filename, "list.csv");
  t.format = UC_BATCH_CSV, t.status = UC_BATCH_PROCESSING;
  t.upload_bytes = strlen(text), t.created_at = (int64_t)time(NULL);
  assert_int_equal(uc_batch_task_dir(f->root, t.account_id, t.id, dir, sizeof dir), UC_OK);
  assert_int_equal(uc_batch_mkdirs(dir), UC_OK);
  assert_int_equal(uc_batch_task_file(f->root, &t, 0, path, sizeof path), UC_OK);
  put(path, text);
  assert_int_equal(uc_store_batch_insert(f->st, &t), UC_OK);
  assert_int_equal(uc_store_batch_claim(f->st, t.id, owner, now_ms(), 60000, &t), UC_OK);
  assert_string_equal(t.owner, owner);
  return t;
}

/* The names in the task's directory, sorted, joined by spaces. */
static const char *files(struct fx *f, const struct uc_batch_rec *t) {
  static char out[1024];
  char dir[4096], names[16][256];
  size_t n = 0, len = 0;
  assert_int_equal(uc_batch_task_dir(f->root, t->account_id, t->id, dir, sizeof dir), UC_OK);
  DIR *d = opendir(dir);
  struct dirent *e;
  out[0] = 0;
  if (!d)
    return "(none)";
  while ((e = readdir(d)) && n < COUNT(names))
    if (e->d_name[0] != '.')
      snprintf(names[n++], sizeof names[0], "%s", e->d_name);
  closedir(d);
  qsort(names, n, sizeof names[0], (int (*)(const void *, const void *))strcmp);
  for (size_t i = 0; i < n; i++)
    len += (size_t)snprintf(out + len, sizeof out - len, "%s%s", i ? " " : "", names[i]);
  return out;
}

struct usage {
  uint64_t count[3];
  size_t rows;
};
static int on_usage(void *arg, const struct uc_usage_row *u) {
  struct usage *s = arg;
  for (int c = 0; c < 3; c++)
    s->count[c] += u->count[c];
  s->rows++;
  return 0;
}
static struct usage batch_usage(struct fx *f) {
  struct usage u;
  memset(&u, 0, sizeof u);
  assert_int_equal(uc_store_batch_usage_each(f->st, f->account, 0, on_usage, &u), UC_OK);
  return u;
}

static const char LIST[] = "email\na@gmail.com\nb@mailinator.com\nc@gmail.com\n";

static void test_a_run_completes_once_and_leaves_only_its_result(void **state) {
  struct fx *f = *state;
  struct uc_batch_rec t = task(f, LIST, "host:1:aa/w0"), got;
  char dir[4096], path[4096 + 64];
  uc_batch_task_dir(f->root, t.account_id, t.id, dir, sizeof dir);
  /* what a run killed half-way, and one that lost the task, left */
  snprintf(path, sizeof path, "%s/result.0011223344556677.csv.part", dir);
  put(path, "half");
  snprintf(path, sizeof path, "%s/result.csv", dir);
  put(path, "an older result");
  assert_int_equal(uc_batch_task_run(f->st, f->root, &t, &f->k, &f->stop), UC_OK);
  assert_string_equal(files(f, &t), "result.csv upload.csv");
  assert_int_equal(uc_store_batch_get(f->st, f->account, t.id, &got), UC_OK);
  assert_int_equal(got.status, UC_BATCH_COMPLETED);
  assert_int_equal(got.counts.rows_done, 3);
  assert_int_equal(got.attempts, 1);
  assert_true(got.result_bytes > 0);
  struct usage u = batch_usage(f);
  assert_int_equal(u.count[UC_WHITE], 2);
  assert_int_equal(u.count[UC_BLACK], 1);
  /* the task is finished: no worker can claim it again, so it is counted once */
  assert_int_equal(
      uc_store_batch_claim(f->st, t.id, "host:2:bb/w0", now_ms() + 3600000, 60000, NULL),
      UC_ENOTFOUND);
  assert_int_equal(uc_store_batch_finish(f->st, &t, NULL, 0), UC_EBUSY); /* finished already */
  u = batch_usage(f);
  assert_int_equal(u.count[UC_WHITE] + u.count[UC_BLACK] + u.count[UC_GREY], 3);
}

static void test_a_run_of_a_task_another_server_took_writes_nothing(void **state) {
  struct fx *f = *state;
  struct uc_batch_rec t = task(f, LIST, "host:1:aa/w0"), got;
  /* the lease ran out (SQLite takes the caller's clock) and another server took it */
  assert_int_equal(
      uc_store_batch_claim(f->st, t.id, "host:2:bb/w0", now_ms() + 120000, 60000, NULL), UC_OK);
  assert_int_equal(uc_batch_task_run(f->st, f->root, &t, &f->k, &f->stop), UC_EBUSY);
  assert_string_equal(files(f, &t), "upload.csv");
  assert_int_equal(uc_store_batch_get(f->st, 0, t.id, &got), UC_OK);
  assert_int_equal(got.status, UC_BATCH_PROCESSING);
  assert_string_equal(got.owner, "host:2:bb/w0");
  assert_int_equal(got.attempts, 0); /* the refused run changed nothing */
  assert_int_equal(batch_usage(f).rows, 0);
  /* the new owner runs it: counted once */
  assert_int_equal(uc_batch_task_run(f->st, f->root, &got, &f->k, &f->stop), UC_OK);
  assert_int_equal(got.status, UC_BATCH_COMPLETED);
  struct usage u = batch_usage(f);
  assert_int_equal(u.count[UC_WHITE] + u.count[UC_BLACK] + u.count[UC_GREY], 3);
}

static void test_a_released_task_is_refused_to_its_old_owner(void **state) {
  struct fx *f = *state;
  struct uc_batch_rec t = task(f, LIST, "host:1:aa/w0");
  assert_int_equal(uc_store_batch_release(f->st, t.id, "host:1:aa/w0"), UC_OK);
  assert_int_equal(uc_store_batch_release(f->st, t.id, "host:1:aa/w0"), UC_EBUSY);
  assert_int_equal(uc_batch_task_run(f->st, f->root, &t, &f->k, &f->stop), UC_EBUSY);
  assert_int_equal(batch_usage(f).rows, 0);
}

static void test_a_deleted_task_stops(void **state) {
  struct fx *f = *state;
  struct uc_batch_rec t = task(f, LIST, "host:1:aa/w0");
  assert_int_equal(uc_batch_task_delete(f->st, f->root, f->account, t.id), UC_OK);
  assert_int_equal(uc_batch_task_run(f->st, f->root, &t, &f->k, &f->stop), UC_ECANCELED);
  assert_string_equal(files(f, &t), "(none)");
  assert_int_equal(batch_usage(f).rows, 0);
}

static void test_a_failed_task_is_not_counted(void **state) {
  struct fx *f = *state;
  struct uc_batch_rec t = task(f, "name\nann\nbob\n", "host:1:aa/w0"), got;
  assert_int_equal(uc_batch_task_run(f->st, f->root, &t, &f->k, &f->stop), UC_OK);
  assert_int_equal(uc_store_batch_get(f->st, 0, t.id, &got), UC_OK);
  assert_int_equal(got.status, UC_BATCH_FAILED);
  assert_non_null(strstr(got.reason, "no column holds email addresses"));
  assert_string_equal(files(f, &t), "upload.csv");
  assert_int_equal(batch_usage(f).rows, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_a_run_completes_once_and_leaves_only_its_result,
                                      fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_a_run_of_a_task_another_server_took_writes_nothing,
                                      fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_a_released_task_is_refused_to_its_old_owner, fx_setup,
                                      fx_teardown),
      cmocka_unit_test_setup_teardown(test_a_deleted_task_stops, fx_setup, fx_teardown),
      cmocka_unit_test_setup_teardown(test_a_failed_task_is_not_counted, fx_setup, fx_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
