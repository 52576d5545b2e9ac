/* libFuzzer driver: the admin API's paths (uc_admin_path_parse). What it
 * accepts is exactly resource[/color][/item] and nothing else: joining the
 * parts again gives back the input. */
#include "uc/admin.h"
#include "uc/uc.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

static const char *const resources[] = {
    [UC_ADMIN_SETTINGS] = "settings", [UC_ADMIN_BANS] = "bans",   [UC_ADMIN_LISTS] = "lists",
    [UC_ADMIN_KEYS] = "keys",         [UC_ADMIN_USAGE] = "usage", [UC_ADMIN_AUDIT] = "audit",
    [UC_ADMIN_SOURCES] = "sources",   [UC_ADMIN_TRY] = "try",     [UC_ADMIN_ACTIVITY] = "activity"};

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  struct uc_admin_path p, q;
  static char joined[64 + UC_ADMIN_ITEM_MAX];
  int rc = uc_admin_path_parse((const char *)data, size, &p);
  assert(rc == UC_OK || rc == UC_ENOTFOUND);
  if (rc != UC_OK)
    return 0;
  assert((unsigned)p.resource < sizeof resources / sizeof resources[0]);
  assert(memchr(p.item, 0, sizeof p.item));
  size_t n = strlen(p.item);
  assert(p.has_item ? n > 0 : n == 0);
  assert(p.resource == UC_ADMIN_BANS || !strchr(p.item, '/'));
  assert(!p.has_item || p.resource == UC_ADMIN_BANS || p.resource == UC_ADMIN_LISTS ||
         p.resource == UC_ADMIN_KEYS);
  int len = snprintf(joined, sizeof joined, "%s", resources[p.resource]);
  if (p.resource == UC_ADMIN_LISTS)
    len += snprintf(joined + len, sizeof joined - len, "/%s", uc_category_name(p.color));
  if (p.has_item)
    len += snprintf(joined + len, sizeof joined - len, "/%s", p.item);
  assert((size_t)len < sizeof joined);
  assert((size_t)len == size && memcmp(joined, data, size) == 0);
  assert(uc_admin_path_parse(joined, (size_t)len, &q) == UC_OK);
  assert(q.resource == p.resource && q.has_item == p.has_item && !strcmp(q.item, p.item));
  assert(p.resource != UC_ADMIN_LISTS || q.color == p.color);
  return 0;
}
