/* Operations endpoints: GET /healthz (no auth) and GET /metrics (Prometheus). */
#include "http.h"

#include <stdlib.h>

enum MHD_Result srv_healthz(struct srv *s, struct MHD_Connection *c, struct req *r) {
  char body[256];
  uc_lists *l = uc_lists_holder_get(s->lists);
  /* 200 while the store is down too: checks still answer from the lists, so
   * a load balancer must keep sending them (the store's state is reported). */
  int n =
      snprintf(body, sizeof body, "{\"status\":\"ok\",\"lists_version\":\"%s\",\"store\":\"%s\"}",
               uc_lists_version(l), /* the version is [0-9.a-f-] only */
               atomic_load(&s->store_down) ? "unavailable" : "ok");
  uc_lists_unref(l);
  return srv_reply(c, r, MHD_HTTP_OK, "application/json", body, (size_t)n);
}

enum MHD_Result srv_metrics(struct srv *s, struct MHD_Connection *c, struct req *r) {
  size_t len;
  char *text = srv_metrics_render(s, &len);
  if (!text)
    return srv_reply_detail(c, r, MHD_HTTP_INTERNAL_SERVER_ERROR, "Out of memory.");
  enum MHD_Result ret = srv_reply(c, r, MHD_HTTP_OK, "text/plain; version=0.0.4", text, len);
  free(text);
  return ret;
}
