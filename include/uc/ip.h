/* Client IP addresses as ban keys: every spelling of one address (and every
 * address of one IPv6 prefix) gives the same key; CIDR ranges for never-ban. */
#ifndef UC_IP_H
#define UC_IP_H

#include <stddef.h>
#include <stdint.h>

#define UC_IP_KEY_MAX 64 /* "ffff:...:ffff/128" (INET6_ADDRSTRLEN + 4) fits */

/* How an address was written, besides the address itself (uc_ip.form). */
enum uc_ip_form {
  UC_IP_PORT = 1u << 0,     /* "198.51.100.1:1234", "[2001:db8::1]:443": the port ignored */
  UC_IP_BRACKETS = 1u << 1, /* "[2001:db8::1]" */
  UC_IP_ZONE = 1u << 2,     /* "fe80::1%eth0": the zone ignored */
  UC_IP_LIST = 1u << 3,     /* "10.0.0.1, 198.51.100.1": the first entry taken */
};

struct uc_ip {
  int family;              /* 4 or 6 */
  uint8_t addr[16];        /* IPv4 in the first 4 bytes */
  char key[UC_IP_KEY_MAX]; /* "203.0.113.7" or "2001:db8::/64" */
  unsigned form;           /* enum uc_ip_form */
};

/* Parses s[0..n), an address as integrations send it: surrounding spaces,
 * tabs and line ends ignored; host:port, [v6]:port and [v6]; a zone id
 * (fe80::1%eth0); a comma-separated list (an X-Forwarded-For value) yields
 * its first entry, the one the integration guides take. out->form says
 * which of these it was. IPv4-mapped IPv6 counts as IPv4; IPv6 is masked to
 * v6_prefix bits (1..128). UC_OK, or UC_EINVAL for "", "unknown" and
 * anything that is not an address. */
int uc_ip_parse(const char *s, size_t n, unsigned v6_prefix, struct uc_ip *out);

/* Whether ip is a loopback address (127.0.0.0/8, ::1). */
int uc_ip_loopback(const struct uc_ip *ip);

/* Whether ip is one no client sends from, so a placeholder an integration
 * filled in: "this network" (0.0.0.0/8), the limited broadcast
 * (255.255.255.255) or the unspecified IPv6 address (::). */
int uc_ip_placeholder(const struct uc_ip *ip);

/* The ban key for what an operator typed: an address (grouped as
 * uc_ip_parse does), or a key as the ban list shows it ("2001:db8::/64" keeps
 * its own prefix, so a ban made under another ipv6_prefix can be lifted;
 * "203.0.113.7/32" is "203.0.113.7"). UC_OK or UC_EINVAL. */
int uc_ip_key_parse(const char *s, unsigned v6_prefix, char key[UC_IP_KEY_MAX]);

struct uc_cidr {
  int family;
  uint8_t addr[16];
  unsigned prefix;
};

/* "192.0.2.0/24", "2001:db8::/48" or a single address. UC_OK or UC_EINVAL.
 * The text form (canonical) goes to text when not NULL (UC_IP_KEY_MAX bytes). */
int uc_cidr_parse(const char *s, struct uc_cidr *out, char *text);
/* Whether ip (as parsed, before masking) lies in c. */
int uc_cidr_contains(const struct uc_cidr *c, const struct uc_ip *ip);

#endif
