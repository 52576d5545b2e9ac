/* libFuzzer driver: the recent-checks feed (lib/activity.c) and its JSON
 * (uc_admin_activity_json), fed any bytes as the check route would pass them
 * (the address or domain, the ip as sent, a canonical key). Each input is a
 * run of notes: a control byte (account, outcome, key type, whole address),
 * then the text and the ip, NUL-separated. What is kept is bounded and clean,
 * the reads are ordered, and the JSON always parses. */
#include "uc/uc.h"

#include <assert.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct uc_admin ad;
static struct uc_settings settings;
static char dir[] = "/tmp/uc-fuzz-activity-XXXXXX";

/* The store's files go with the process. */
static void cleanup(void) {
  const char *const files[] = {"store.db", "store.db-wal", "store.db-shm"};
  char path[64];
  uc_store_close(ad.st);
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, files[i]);
    unlink(path);
  }
  rmdir(dir);
}

static void setup(void) {
  char path[64], err[256];
  struct uc_account_rec acc;
  if (!mkdtemp(dir))
    abort();
  atexit(cleanup);
  snprintf(path, sizeof path, "%s/store.db", dir);
  if (uc_store_open(path, UC_STORE_CREATE, &ad.st, err, sizeof err) ||
      uc_store_account_create(ad.st, "a", &acc))
    abort();
  uc_settings_init(&settings);
}

static void check_view(const struct uc_activity_view *v) {
  assert(v->n <= UC_ACTIVITY_RING);
  for (size_t i = 0; i < v->n; i++) {
    const struct uc_activity_entry *e = &v->entries[i];
    assert(memchr(e->text, 0, sizeof e->text) && memchr(e->ip, 0, sizeof e->ip));
    for (const char *p = e->text; *p; p++)
      assert((unsigned char)*p >= 0x20 && *p != 0x7F);
    assert(i == 0 || v->entries[i - 1].seq == e->seq + 1);
    assert(e->seq <= v->last_seq);
  }
  assert(v->ndomains <= UC_ACTIVITY_TOP_SHOWN && v->nips <= UC_ACTIVITY_TOP_SHOWN);
  for (size_t i = 0; i < v->ndomains; i++)
    assert(v->domains[i].count > v->domains[i].over &&
           (i == 0 || v->domains[i - 1].count >= v->domains[i].count));
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  static struct uc_activity_view view;
  struct uc_follower f = {0};
  if (!ad.st)
    setup();
  uc_activity *a = uc_activity_new(2);
  ad.activity = a;
  int64_t at = 20000 * 86400LL;
  size_t i = 0;
  while (i < size) {
    unsigned char ctl = data[i++];
    const char *text = (const char *)data + i;
    const unsigned char *nul = memchr(data + i, 0, size - i);
    size_t text_len = nul ? (size_t)(nul - (data + i)) : size - i;
    i += text_len + (nul != NULL);
    const char *ip = (const char *)data + i;
    nul = i < size ? memchr(data + i, 0, size - i) : NULL;
    size_t ip_len = i < size ? (nul ? (size_t)(nul - (data + i)) : size - i) : 0;
    i += ip_len + (nul != NULL);
    struct uc_ip parsed;
    int has_key = uc_ip_parse(ip, ip_len, 64, &parsed) == UC_OK;
    struct uc_activity_note n = {at + (ctl >> 6) * 40000, /* sometimes a new day */
                                 ctl & 3,
                                 (ctl >> 2) & 1 ? UC_KEY_SANDBOX : UC_KEY_ACTIVE,
                                 (ctl >> 3) & 3, /* white, grey, black, banned */
                                 UC_T_DISPOSABLE,
                                 text,
                                 text_len,
                                 (ctl >> 5) & 1,
                                 ip_len ? ip : NULL,
                                 ip_len,
                                 has_key ? parsed.key : NULL};
    at = n.at;
    uc_activity_note(a, &f, (unsigned)text_len % 3, 1 + (ctl & 3), &n); /* 4 accounts, 2 feeds */
  }
  for (int64_t acc = 1; acc <= 4; acc++) {
    uc_activity_read(a, acc, 0, (unsigned)(at / 86400), &view);
    check_view(&view);
  }
  struct uc_admin_error e;
  char *json = NULL;
  settings.activity_emails = size & 1;
  for (int64_t acc = 1; acc <= 4; acc++) {
    assert(uc_admin_activity_json(&ad, acc, &settings, 0, at, &json, &e) == UC_OK);
    json_t *doc = json_loads(json, 0, NULL);
    assert(doc && json_array_size(json_object_get(doc, "checks")) <= UC_ACTIVITY_RING);
    json_decref(doc);
    free(json);
  }
  uc_activity_follower_drop(a, &f);
  uc_activity_free(a);
  return 0;
}
