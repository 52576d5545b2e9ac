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

int uc_ip_parse(const char *s, size_t n, unsigned v6_prefix, struct uc_ip *out) {
  char buf[64];
  while (n && (*s == ' ' || *s == '\t'))
    s++, n--;
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
    n--;
  if (n == 0 || n >= sizeof buf || memchr(s, 0, n) || v6_prefix < 1 || v6_prefix > 128)
    return UC_EINVAL;
  memcpy(buf, s, n);
  buf[n] = 0;
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
