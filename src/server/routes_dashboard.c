/* GET /dashboard/...: the embedded single-page dashboard, with ETags and a
 * Content-Security-Policy that allows no inline script and no other origin;
 * and the other embedded files: /openapi.json, /docs, /favicon.ico, and / (a
 * redirect to the dashboard). */
#include "assets.h"
#include "http.h"

#include <string.h>

static const char csp[] = "default-src 'none'; script-src 'self'; style-src 'self'; "
                          "img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
                          "form-action 'self'; frame-ancestors 'none'";

static enum MHD_Result send_asset(struct MHD_Connection *c, struct req *r, unsigned status,
                                  const struct srv_asset *a, const char *location, int any_origin) {
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
  if (any_origin) /* a public document: API tools on other origins may read it */
    MHD_add_response_header(resp, "Access-Control-Allow-Origin", "*");
  enum MHD_Result ret = MHD_queue_response(c, status, resp);
  MHD_destroy_response(resp);
  r->status = status;
  r->sent = a && status == MHD_HTTP_OK ? a->len : 0;
  srv_conn_busy(r->conn);
  return ret;
}

static const struct srv_asset *asset(const char *name) {
  for (size_t i = 0; i < srv_assets_count; i++)
    if (strcmp(srv_assets[i].name, name) == 0)
      return &srv_assets[i];
  return NULL;
}

/* If-None-Match (RFC 9110 13.1.2): "*" or a list holding the asset's ETag. */
static int not_modified(struct MHD_Connection *c, const struct srv_asset *a) {
  const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
  if (!inm)
    return 0;
  while (*inm == ' ' || *inm == '\t')
    inm++;
  return strncmp(inm, "*", 1) == 0 ? inm[1 + strspn(inm + 1, " \t")] == 0
                                   : strstr(inm, a->etag) != NULL;
}

/* The embedded file called name: 200, 304 when If-None-Match matches, or 404. */
static enum MHD_Result reply_asset(struct MHD_Connection *c, struct req *r, const char *name,
                                   int any_origin) {
  const struct srv_asset *a = asset(name);
  if (!a)
    return srv_reply_detail(c, r, MHD_HTTP_NOT_FOUND, "Not Found");
  return send_asset(c, r, not_modified(c, a) ? MHD_HTTP_NOT_MODIFIED : MHD_HTTP_OK, a, NULL,
                    any_origin);
}

enum MHD_Result srv_dashboard(struct srv *s, struct MHD_Connection *c, struct req *r) {
  (void)s;
  if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0)
    return srv_reply_detail(c, r, MHD_HTTP_METHOD_NOT_ALLOWED, "Method Not Allowed");
  /* The raw path (routing never decodes: "/dashboard%2fapp.js" is no file). */
  if (strcmp(r->path, "/dashboard") == 0)
    return send_asset(c, r, MHD_HTTP_MOVED_PERMANENTLY, NULL, "/dashboard/", 0);
  if (strncmp(r->path, "/dashboard/", 11) != 0) /* "/dashboardx": routing refuses it already */
    return srv_reply_detail(c, r, MHD_HTTP_NOT_FOUND, "Not Found");
  const char *name = r->path + strlen("/dashboard/");
  return reply_asset(c, r, *name ? name : "index.html", 0);
}

enum MHD_Result srv_openapi(struct srv *s, struct MHD_Connection *c, struct req *r) {
  (void)s;
  return reply_asset(c, r, "openapi.json", 1);
}

enum MHD_Result srv_docs(struct srv *s, struct MHD_Connection *c, struct req *r) {
  (void)s;
  return reply_asset(c, r, "docs.html", 0);
}

enum MHD_Result srv_favicon(struct srv *s, struct MHD_Connection *c, struct req *r) {
  (void)s;
  return reply_asset(c, r, "favicon.svg", 0);
}

/* A person who opens the server's address wants the dashboard. */
enum MHD_Result srv_home(struct srv *s, struct MHD_Connection *c, struct req *r) {
  (void)s;
  return send_asset(c, r, MHD_HTTP_FOUND, NULL, "/dashboard/", 0);
}
