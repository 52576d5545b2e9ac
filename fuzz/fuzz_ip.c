/* libFuzzer driver: IP addresses (every form integrations send: host:port,
 * [v6]:port, zone ids, X-Forwarded-For lists, line ends), CIDR ranges and
 * listable domains from arbitrary text (what the check API's "ip", the admin
 * API and the CLI take). */
#include "uc/ip.h"
#include "uc/uc.h"

#include <arpa/inet.h>
#include <assert.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
  char text[256], key[UC_IP_KEY_MAX], name[UC_DOMAIN_MAX + 1], reason[UC_REASON_MAX];
  struct uc_ip ip, again;
  struct uc_cidr c;
  unsigned prefix = size ? 1 + data[0] % 128 : 64;
  if (uc_ip_parse((const char *)data, size, prefix, &ip) == UC_OK) {
    /* each form it reports is there in the text */
    assert(!(ip.form & UC_IP_LIST) || memchr(data, ',', size));
    assert(!(ip.form & UC_IP_PORT) || memchr(data, ':', size));
    assert(!(ip.form & UC_IP_BRACKETS) || (memchr(data, '[', size) && memchr(data, ']', size)));
    assert(!(ip.form & UC_IP_ZONE) || memchr(data, '%', size));
    assert(ip.family == 4 || ip.family == 6);
    static const uint8_t one[16] = {[15] = 1};
    assert(uc_ip_loopback(&ip) ==
           (ip.family == 4 ? ip.addr[0] == 127 : memcmp(ip.addr, one, 16) == 0));
    assert(!(uc_ip_placeholder(&ip) && uc_ip_loopback(&ip))); /* never both */
    /* the key is canonical: parsing the address part again gives the same key */
    snprintf(key, sizeof key, "%s", ip.key);
    char *slash = strchr(key, '/');
    if (slash)
      *slash = 0;
    assert(uc_ip_parse(key, strlen(key), prefix, &again) == UC_OK);
    assert(strcmp(again.key, ip.key) == 0);
    if (ip.family == 4) { /* written by hand, so checked against inet_ntop */
      char v4[INET_ADDRSTRLEN];
      inet_ntop(AF_INET, ip.addr, v4, sizeof v4);
      assert(strcmp(v4, ip.key) == 0);
    }
  }
  size_t n = size < sizeof text - 1 ? size : sizeof text - 1;
  memcpy(text, data, n);
  text[n] = 0;
  if (uc_cidr_parse(text, &c, key) == UC_OK) {
    struct uc_cidr c2;
    char key2[UC_IP_KEY_MAX];
    assert(uc_cidr_parse(key, &c2, key2) == UC_OK && strcmp(key, key2) == 0);
  }
  if (uc_domain_parse((const char *)data, size, name, reason, sizeof reason) == UC_OK)
    assert(strlen(name) <= UC_DOMAIN_MAX && strchr(name, '.'));
  else
    assert(reason[0]);
  return 0;
}
