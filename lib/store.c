/* Store front: backend selection and the operations built on the ops table. */
#include "uc/store.h"
#include "uc/error.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

uc_store *uc_store_open(const char *target, char *err, size_t es) {
  const struct uc_store_ops *ops = &uc_store_sqlite_ops;
  if (strncmp(target, "sqlite:", 7) == 0)
    target += 7;
  uc_store *st = calloc(1, sizeof *st);
  if (!st) {
    snprintf(err, es, "out of memory");
    return NULL;
  }
  st->ops = ops;
  if (ops->open(target, &st->state, err, es) != UC_OK) {
    free(st);
    return NULL;
  }
  return st;
}

void uc_store_close(uc_store *st) {
  if (!st)
    return;
  st->ops->close(st->state);
  free(st);
}

int uc_name_valid(const char *name) {
  size_t n = strlen(name);
  if (n == 0 || n > UC_NAME_MAX)
    return 0;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)name[i] < 0x20 || name[i] == 0x7F)
      return 0;
  return 1;
}

int uc_store_key_create(uc_store *st, int64_t account_id, const char *name, uc_key_type t,
                        struct uc_key_rec *rec, char key[UC_KEY_MAX + 1]) {
  if (!uc_name_valid(name) || (unsigned)t > UC_KEY_ADMIN)
    return UC_EINVAL;
  size_t n = uc_key_generate(t, key);
  if (!n)
    return UC_EIO;
  memset(rec, 0, sizeof *rec);
  rec->account_id = account_id;
  snprintf(rec->name, sizeof rec->name, "%s", name);
  rec->type = t;
  snprintf(rec->prefix, sizeof rec->prefix, "%.*s", UC_KEY_PREFIX_SHOWN, key);
  uc_key_hash(key, n, rec->hash);
  rec->created_at = (int64_t)time(NULL);
  return st->ops->key_insert(st->state, rec);
}
