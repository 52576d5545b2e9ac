/* IP parsing, canonical ban keys and CIDR matching (inet_pton/inet_ntop). */
#include "uc/ip.h"
#include "uc/error.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void mask(uint8_t *addr, size_t len, unsigned prefix) {
  for (size_t i = 0; i < len; i++) {
    unsigned keep = prefix >= (i + 1) * 8 ? 8 : prefix > i * 8 ? prefix - (unsigned)i * 8 : 0;
    addr[i] &= (uint8_t)(0xFF00u >> keep);
  }
}

/* Fills family/addr from text; IPv4-mapped IPv6 becomes IPv4. */
static int parse_addr(const char *text, int *family, uint8_t addr[16]) {
  static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
  memset(addr, 0, 16);
  if (inet_pton(AF_INET, text, addr) == 1)
    return *family = 4, UC_OK;
  if (inet_pton(AF_INET6, text, addr) != 1)
    return UC_EINVAL;
  if (memcmp(addr, mapped, 12) == 0) {
    memmove(addr, addr + 12, 4);
    memset(addr + 4, 0, 12);
    return *family = 4, UC_OK;
  }
  return *family = 6, UC_OK;
}

/* inet_ntop's dotted quad, without its trip through sprintf (this runs on
 * every check). */
static void format_v4(const uint8_t a[4], char *out) {
  for (int i = 0; i < 4; i++) {
    unsigned v = a[i];
    if (v >= 100)
      *out++ = (char)('0' + v / 100);
    if (v >= 10)
      *out++ = (char)('0' + v / 10 % 10);
    *out++ = (char)('0' + v % 10);
    *out++ = i < 3 ? '.' : 0;
  }
}

static int blank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* s[0..*n) without surrounding blanks. */
static const char *trim(const char *s, size_t *n) {
  while (*n && blank(*s))
    s++, (*n)--;
  while (*n && blank(s[*n - 1]))
    (*n)--;
  return s;
}

/* ":1..65535" at p[0..n): a port. */
static int port_ok(const char *p, size_t n) {
  unsigned long v = 0;
  if (n < 2 || n > 6 || p[0] != ':')
    return 0;
  for (size_t i = 1; i < n; i++) {
    if (p[i] < '0' || p[i] > '9')
      return 0;
    v = v * 10 + (unsigned long)(p[i] - '0');
  }
  return v >= 1 && v <= 65535;
}

/* The address part of one entry s[0..n) into buf (NUL-terminated), *form
 * saying what was around it. 0 when the entry has no address shape. */
static int address_of(const char *s, size_t n, char buf[64], unsigned *form) {
  const char *colon = memchr(s, ':', n);
  if (n && s[0] == '[') { /* [v6] or [v6]:port */
    const char *close = memchr(s, ']', n);
    if (!close)
      return 0;
    size_t rest = n - (size_t)(close + 1 - s);
    if (rest && !port_ok(close + 1, rest))
      return 0;
    *form |= UC_IP_BRACKETS | (rest ? UC_IP_PORT : 0);
    s++, n = (size_t)(close - s);
  } else if (colon && !memchr(colon + 1, ':', n - (size_t)(colon + 1 - s))) { /* v4:port */
    if (!port_ok(colon, n - (size_t)(colon - s)))
      return 0;
    *form |= UC_IP_PORT;
    n = (size_t)(colon - s);
  }
  const char *zone = memchr(s, '%', n);
  if (zone) { /* fe80::1%eth0: the zone names an interface of the sender, not an address */
    if (zone + 1 == s + n || !memchr(s, ':', (size_t)(zone - s)))
      return 0;
    *form |= UC_IP_ZONE;
    n = (size_t)(zone - s);
  }
  if (n == 0 || n >= 64)
    return 0;
  memcpy(buf, s, n);
  buf[n] = 0;
  return 1;
}

int uc_ip_parse(const char *s, size_t n, unsigned v6_prefix, struct uc_ip *out) {
  char buf[64];
  out->form = 0;
  if (!s || memchr(s, 0, n) || v6_prefix < 1 || v6_prefix > 128)
    return UC_EINVAL;
  s = trim(s, &n);
  const char *comma = memchr(s, ',', n);
  if (comma) { /* an X-Forwarded-For list: the client is its first entry */
    n = (size_t)(comma - s);
    s = trim(s, &n);
    out->form |= UC_IP_LIST;
  }
  if (n == 0 || !address_of(s, n, buf, &out->form))
    return UC_EINVAL;
  if (parse_addr(buf, &out->family, out->addr) != UC_OK)
    return UC_EINVAL;
  if (out->family == 4) {
    format_v4(out->addr, out->key);
    return UC_OK;
  }
  uint8_t masked[16];
  memcpy(masked, out->addr, 16);
  mask(masked, 16, v6_prefix);
  char text[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, masked, text, sizeof text);
  snprintf(out->key, sizeof out->key, "%s/%u", text, v6_prefix);
  return UC_OK;
}

int uc_ip_loopback(const struct uc_ip *ip) {
  static const uint8_t one[16] = {[15] = 1};
  return ip->family == 4 ? ip->addr[0] == 127 : memcmp(ip->addr, one, 16) == 0;
}

int uc_ip_placeholder(const struct uc_ip *ip) {
  static const uint8_t zero[16];
  static const uint8_t bcast[4] = {255, 255, 255, 255};
  if (ip->family == 4)
    return ip->addr[0] == 0 || memcmp(ip->addr, bcast, 4) == 0;
  return memcmp(ip->addr, zero, 16) == 0;
}

int uc_cidr_parse(const char *s, struct uc_cidr *out, char *text) {
  char buf[64];
  const char *slash = strchr(s, '/');
  size_t n = slash ? (size_t)(slash - s) : strlen(s);
  if (n == 0 || n >= sizeof buf)
    return UC_EINVAL;
  memcpy(buf, s, n);
  buf[n] = 0;
  if (parse_addr(buf, &out->family, out->addr) != UC_OK)
    return UC_EINVAL;
  int written_v6 = strchr(buf, ':') != NULL; /* ::ffff:192.0.2.0/120 is 192.0.2.0/24 */
  unsigned max = written_v6 ? 128 : 32;
  out->prefix = out->family == 4 ? 32 : 128;
  if (slash) {
    char *end;
    long p = strtol(slash + 1, &end, 10);
    if (slash[1] < '0' || slash[1] > '9' || *end || p < 0 || (unsigned long)p > max)
      return UC_EINVAL;
    if (out->family == 4 && written_v6) {
      if (p < 96)
        return UC_EINVAL; /* wider than the mapped range: not an IPv4 range */
      p -= 96;
    }
    out->prefix = (unsigned)p;
  }
  mask(out->addr, out->family == 4 ? 4 : 16, out->prefix);
  if (text) {
    char a[INET6_ADDRSTRLEN];
    inet_ntop(out->family == 4 ? AF_INET : AF_INET6, out->addr, a, sizeof a);
    snprintf(text, UC_IP_KEY_MAX, "%s/%u", a, out->prefix);
  }
  return UC_OK;
}

int uc_cidr_contains(const struct uc_cidr *c, const struct uc_ip *ip) {
  if (c->family != ip->family)
    return 0;
  uint8_t a[16];
  memcpy(a, ip->addr, 16);
  mask(a, c->family == 4 ? 4 : 16, c->prefix);
  return memcmp(a, c->addr, c->family == 4 ? 4 : 16) == 0;
}

int uc_ip_key_parse(const char *s, unsigned v6_prefix, char key[UC_IP_KEY_MAX]) {
  struct uc_ip ip;
  struct uc_cidr c;
  char text[UC_IP_KEY_MAX];
  if (!strchr(s, '/')) {
    if (uc_ip_parse(s, strlen(s), v6_prefix, &ip) != UC_OK)
      return UC_EINVAL;
    memcpy(key, ip.key, UC_IP_KEY_MAX);
    return UC_OK;
  }
  if (uc_cidr_parse(s, &c, text) != UC_OK || (c.family == 4 && c.prefix != 32))
    return UC_EINVAL;
  if (c.family == 4) /* IPv4 keys are plain addresses */
    *strchr(text, '/') = 0;
  memcpy(key, text, UC_IP_KEY_MAX);
  return UC_OK;
}
