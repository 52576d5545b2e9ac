/* Internal to the server: the dashboard's files, embedded at build time by
 * scripts/embed.py from web/ (build/gen/web_assets.c). */
#ifndef UC_SERVER_ASSETS_H
#define UC_SERVER_ASSETS_H

#include <stddef.h>

struct srv_asset {
  const char *name; /* "app.js" */
  const char *type; /* Content-Type */
  const unsigned char *data;
  size_t len;
  const char *etag; /* quoted */
};

extern const struct srv_asset srv_assets[];
extern const size_t srv_assets_count;

#endif
