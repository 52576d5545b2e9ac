/* Server and CLI settings: defaults < config file (INI) < USER_CLEANING_* < flags. */
#ifndef UC_CONFIG_H
#define UC_CONFIG_H

#include <stddef.h>

struct uc_config {
  char listen[128];            /* ADDR:PORT; [v6]:PORT */
  char store[1024];            /* the store's URL (uc_store_open); --db PATH sets it too */
  char lists[1024];            /* snapshot path; "" = lists.snap beside the binary */
  unsigned threads;            /* HTTP worker threads; 0 = one per core */
  unsigned max_connections;    /* open connections at once */
  unsigned idle_timeout;       /* seconds a connection may stay silent */
  unsigned per_ip_connections; /* per client address; 0 = no limit */
  unsigned long body_limit;    /* bytes of request body */
  unsigned long header_limit;  /* bytes of request line + headers */
  char access_log[1024];       /* "-" stdout, "off", or a file path */
  int log_emails;              /* put full addresses in the access log */
  unsigned flush_interval;     /* seconds between usage flushes */
  unsigned drain_timeout;      /* seconds SIGTERM waits for in-flight requests */
  unsigned long ban_memory;    /* counting IPs kept in memory (bans always are) */
};

void uc_config_defaults(struct uc_config *c);

/* Sets one setting by its name (the INI key, e.g. "body_limit"). UC_OK, or
 * UC_EINVAL with err saying which name or value is wrong. */
int uc_config_set(struct uc_config *c, const char *name, const char *value, char *err,
                  size_t err_size);

/* Reads an INI file ([server] section, or no section). */
int uc_config_load_file(struct uc_config *c, const char *path, char *err, size_t err_size);

/* Applies USER_CLEANING_<NAME> variables from envp (NULL: the environment). */
int uc_config_load_env(struct uc_config *c, char **envp, char *err, size_t err_size);

/* Every setting's name, help and default (for --help and docs). */
struct uc_config_doc {
  const char *name, *help, *def;
};
const struct uc_config_doc *uc_config_docs(size_t *count);

#endif
