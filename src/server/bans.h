/* Internal to the server: the in-memory IP ban table (bans.c). */
#ifndef UC_SERVER_BANS_H
#define UC_SERVER_BANS_H

#include <stdint.h>
#include <stdio.h>

#include "uc/error.h"
#include "uc/settings.h"
#include "uc/store.h"

struct srv_bans;

enum srv_ban_state { SRV_NOT_BANNED, SRV_BANNED, SRV_JUST_BANNED };

/* Loads every account's bans from the store. NULL on failure. */
struct srv_bans *srv_bans_new(uc_store *st);
void srv_bans_free(struct srv_bans *b);

/* Before a check: banned or not, and the attempts left (*remaining). */
enum srv_ban_state srv_bans_state(struct srv_bans *b, int64_t account,
                                  const struct uc_settings *set, const char *ip, int64_t now,
                                  long *remaining);
/* After a black answer: counts it. SRV_BANNED if a concurrent request banned
 * the IP first (answer 403); SRV_JUST_BANNED when this one reached 0 (the ban
 * is in the store on return). */
enum srv_ban_state srv_bans_count_black(struct srv_bans *b, int64_t account,
                                        const struct uc_settings *set, const char *ip, int64_t now,
                                        long *remaining);
/* Unban resets the counter; UC_ENOTFOUND when the IP had nothing counted. */
int srv_bans_unban(struct srv_bans *b, int64_t account, const char *ip);
int srv_bans_unban_all(struct srv_bans *b, int64_t account, size_t *count);
/* Writes counts changed since the last flush. */
int srv_bans_flush(struct srv_bans *b);
/* Flushes, then reads the store again (to see another process's unbans). */
int srv_bans_reload(struct srv_bans *b);
/* The account's counted IPs, from memory (the authority while serving). */
int srv_bans_each(struct srv_bans *b, int64_t account, uc_ban_cb cb, void *arg);

#endif
