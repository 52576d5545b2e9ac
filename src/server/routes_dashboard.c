/* GET /dashboard/...: the embedded single-page dashboard, with ETags and a
 * Content-Security-Policy that allows no inline script and no other origin. */
#include "assets.h"
#include "http.h"

#include <string.h>

static const char csp[] = "default-src 'none'; script-src 'self'; style-src 'self'; "
                          "img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
                          "form-action 'self'; frame-ancestors 'none'";

static enum MHD_Result send_asset(struct MHD_Connection *c, struct req *r, unsigned status,
                                  const struct srv_asset *a, const char *location) {
  struct MHD_Response *resp =
      MHD_create_response_from_buffer(a && status == MHD_HTTP_OK ? a->len : 0,
                                      a ? (void *)a->data : (void *)"", MHD_RESPMEM_PERSISTENT);
  if (!resp)
    return MHD_NO;
  MHD_add_response_header(resp, "Content-Security-Policy", csp);
  MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
  MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
  MHD_add_response_header(resp, "X-Frame-Options", "DENY");
  MHD_add_response_header(resp, "Cache-Control", "no-cache"); /* revalidate with the ETag */
  if (a) {
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, a->type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, a->etag);
  }
  if (location)
    MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, location);
  enum MHD_Result ret = MHD_queue_response(c, status, resp);
  MHD_destroy_response(resp);
  r->status = status;
  r->sent = a && status == MHD_HTTP_OK ? a->len : 0;
  return ret;
}

enum MHD_Result srv_dashboard(struct srv *s, struct MHD_Connection *c, struct req *r) {
  (void)s;
  if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0)
    return srv_reply_detail(c, r, MHD_HTTP_METHOD_NOT_ALLOWED, "Method Not Allowed");
  if (strcmp(r->url, "/dashboard") == 0)
    return send_asset(c, r, MHD_HTTP_MOVED_PERMANENTLY, NULL, "/dashboard/");
  const char *name = r->url + strlen("/dashboard/");
  if (!*name)
    name = "index.html";
  for (size_t i = 0; i < srv_assets_count; i++) {
    const struct srv_asset *a = &srv_assets[i];
    if (strcmp(a->name, name) != 0)
      continue;
    const char *inm =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
    return send_asset(c, r, inm && strstr(inm, a->etag) ? MHD_HTTP_NOT_MODIFIED : MHD_HTTP_OK, a,
                      NULL);
  }
  return srv_reply_detail(c, r, MHD_HTTP_NOT_FOUND, "Not Found");
}
