/* Internal to lib/store_redis.c: the Lua scripts of the Redis store. Each
 * runs atomically in Redis (EVALSHA, EVAL when Redis forgot it), so every
 * multi-key write is all or nothing for other clients. ARGV[1] is always the
 * key prefix; the key layout is the table in docs/internals/store.md. Every
 * script validates before its first write: Redis does not undo the writes of
 * a script that fails half-way. */
#ifndef UC_LIB_STORE_REDIS_LUA_H
#define UC_LIB_STORE_REDIS_LUA_H

/* Helpers every script starts with. nextid: a new id from a sequence, or the
 * given one (the sequence moves past it). change: appends to the change feed
 * (a sorted set by id; members "id origin at account kind ip attempts
 * banned_at") and drops a few changes older than a day. */
#define LUA_PRELUDE                                                                                \
  "local P = ARGV[1] .. ':'\n"                                                                     \
  "local function bump() redis.call('INCR', P .. 'version') end\n"                                 \
  "local function nextid(what, id)\n"                                                              \
  "  id = tonumber(id)\n"                                                                          \
  "  local seq = P .. 'next:' .. what\n"                                                           \
  "  if id == 0 then return redis.call('INCR', seq) end\n"                                         \
  "  if id > tonumber(redis.call('GET', seq) or '0') then redis.call('SET', seq, id) end\n"        \
  "  return id\n"                                                                                  \
  "end\n"                                                                                          \
  "local function change(origin, now, acc, kind, ip, attempts, banned_at)\n"                       \
  "  local id = redis.call('INCR', P .. 'next:change')\n"                                          \
  "  redis.call('ZADD', P .. 'changes', id, table.concat({id, origin, now, acc, kind, ip,\n"       \
  "    attempts, banned_at}, ' '))\n"                                                              \
  "  for _, m in ipairs(redis.call('ZRANGE', P .. 'changes', 0, 15)) do\n"                         \
  "    local at = tonumber(string.match(m, '^%d+ %S+ (%d+) '))\n"                                  \
  "    if at and at < tonumber(now) - 86400 then redis.call('ZREM', P .. 'changes', m)\n"          \
  "    else break end\n"                                                                           \
  "  end\n"                                                                                        \
  "end\n"                                                                                          \
  "local function live(acc, id)\n"                                                                 \
  "  local r = redis.call('HMGET', P .. 'key:' .. id, 'account_id', 'revoked_at')\n"               \
  "  return r[1] == acc and r[2] == '0'\n"                                                         \
  "end\n"                                                                                          \
  "local function touch(id, when)\n"                                                               \
  "  local k = P .. 'key:' .. id\n"                                                                \
  "  local cur = redis.call('HGET', k, 'last_used_at')\n"                                          \
  "  if cur and tonumber(when) > tonumber(cur) then redis.call('HSET', k, 'last_used_at', when)\n" \
  "  end\n"                                                                                        \
  "end\n"                                                                                          \
  "local function add_usage(what, from)\n"                                                         \
  "  for i = from, #ARGV, 5 do\n"                                                                  \
  "    redis.call('HINCRBY', P .. what .. ARGV[i], ARGV[i + 1] .. ':' .. ARGV[i + 2], ARGV[i + "   \
  "3])\n"                                                                                          \
  "    touch(ARGV[i], ARGV[i + 4])\n"                                                              \
  "  end\n"                                                                                        \
  "end\n"                                                                                          \
  "local function ban_get(acc, ip)\n"                                                              \
  "  local v = redis.call('HGET', P .. 'bans:' .. acc, ip)\n"                                      \
  "  if not v then return 0, 0, 0 end\n"                                                           \
  "  local a, b, u = string.match(v, '^(%d+) (%d+) (%d+)$')\n"                                     \
  "  return tonumber(a) or 0, tonumber(b) or 0, tonumber(u) or 0\n"                                \
  "end\n"                                                                                          \
  "local function ban_set(acc, ip, a, b, u)\n"                                                     \
  "  redis.call('HSET', P .. 'bans:' .. acc, ip, string.format('%d %d %d', a, b, u))\n"            \
  "  redis.call('SADD', P .. 'ban_accounts', acc)\n"                                               \
  "end\n"

/* Helpers of the batch scripts (after LUA_PRELUDE). open: keeps the index of
 * tasks still processing (P:batch_open, scored by when they are free: the end
 * of the lease, or the upload's time in ms while nobody holds them) in step
 * with the row. now_ms: Redis's clock, which every server shares. fmt: a
 * number as Redis must get it (Lua would write 1.7e+15). */
#define LUA_BATCH                                                                                  \
  "local function fmt(x) return string.format('%.0f', x) end\n"                                    \
  "local function now_ms()\n"                                                                      \
  "  local t = redis.call('TIME')\n"                                                               \
  "  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"                           \
  "end\n"                                                                                          \
  "local function open(id)\n"                                                                      \
  "  local r = redis.call('HMGET', P .. 'batch:' .. id, 'status', 'lease_until', 'created_at')\n"  \
  "  if r[1] ~= 'processing' then return redis.call('ZREM', P .. 'batch_open', id) end\n"          \
  "  local at = tonumber(r[2]) or 0\n"                                                             \
  "  if at == 0 then at = (tonumber(r[3]) or 0) * 1000 end\n"                                      \
  "  redis.call('ZADD', P .. 'batch_open', fmt(at), id)\n"                                         \
  "end\n"                                                                                          \
  "local function row(out, id, from)\n"                                                            \
  "  local r = redis.call('HMGET', P .. 'batch:' .. id, unpack(ARGV, from))\n"                     \
  "  for i = 1, #r do out[#out + 1] = r[i] end\n"                                                  \
  "  return out\n"                                                                                 \
  "end\n"

/* X(name, body): every script. Results: {status, ...} where status is 0 or a
 * negative uc_err (-5 not found, -8 exists); plain values otherwise. */
#define UC_REDIS_SCRIPTS(X)                                                                        \
  /* ARGV: create. Needs Redis 7 (EXPIRETIME). The schema version; -5: none. */                    \
  X(OPEN, "redis.call('EXPIRETIME', P .. 'schema')\n"                                              \
          "local v = redis.call('GET', P .. 'schema')\n"                                           \
          "if v then return tonumber(v) end\n"                                                     \
          "if ARGV[2] == '0' then return -5 end\n"                                                 \
          "redis.call('SET', P .. 'schema', '1')\n"                                                \
          "return 1\n")                                                                            \
  /* ARGV: hash, field, row prefix, fields...: {id, values...} or {}. */                           \
  X(FIND, "local id = redis.call('HGET', P .. ARGV[2], ARGV[3])\n"                                 \
          "if not id then return {} end\n"                                                         \
          "local out = {id}\n"                                                                     \
          "local row = redis.call('HMGET', P .. ARGV[4] .. id, unpack(ARGV, 5))\n"                 \
          "for i = 1, #row do out[i + 1] = row[i] end\n"                                           \
          "return out\n")                                                                          \
  /* ARGV: index (zset of ids), row prefix, reversed, count (-1: all), fields...:                  \
   * id, values..., id, values... */                                                               \
  X(ROWS, "local stop = tonumber(ARGV[5])\n"                                                       \
          "if stop > 0 then stop = stop - 1 end\n"                                                 \
          "local ids = redis.call(ARGV[4] == '1' and 'ZREVRANGE' or 'ZRANGE', P .. ARGV[2], 0, "   \
          "stop)\n"                                                                                \
          "local out = {}\n"                                                                       \
          "for _, id in ipairs(ids) do\n"                                                          \
          "  out[#out + 1] = id\n"                                                                 \
          "  local row = redis.call('HMGET', P .. ARGV[3] .. id, unpack(ARGV, 6))\n"               \
          "  for i = 1, #row do out[#out + 1] = row[i] end\n"                                      \
          "end\n"                                                                                  \
          "return out\n")                                                                          \
  /* ARGV: id (0: new), name, created_at. */                                                       \
  X(ACCOUNT_ADD,                                                                                   \
    "local names = P .. 'account_names'\n"                                                         \
    "if redis.call('HEXISTS', names, ARGV[3]) == 1 then return {-8} end\n"                         \
    "if ARGV[2] ~= '0' and redis.call('EXISTS', P .. 'account:' .. ARGV[2]) == 1 then\n"           \
    "  return {-8} end\n"                                                                          \
    "local id = nextid('account', ARGV[2])\n"                                                      \
    "redis.call('HSET', P .. 'account:' .. id, 'name', ARGV[3], 'created_at', ARGV[4])\n"          \
    "redis.call('HSET', names, ARGV[3], id)\n"                                                     \
    "redis.call('ZADD', P .. 'accounts', id, id)\n"                                                \
    "bump()\n"                                                                                     \
    "return {0, id}\n")                                                                            \
  /* ARGV: id (0: new), then the 10 fields of key:<id> in KEY_FIELDS order. */                     \
  X(KEY_ADD,                                                                                       \
    "local hashes = P .. 'key_hashes'\n"                                                           \
    "if redis.call('EXISTS', P .. 'account:' .. ARGV[3]) == 0 then\n"                              \
    "  return redis.error_reply('no account ' .. ARGV[3]) end\n"                                   \
    "if redis.call('HEXISTS', hashes, ARGV[7]) == 1 then return {-8} end\n"                        \
    "if ARGV[2] ~= '0' and redis.call('EXISTS', P .. 'key:' .. ARGV[2]) == 1 then\n"               \
    "  return {-8} end\n"                                                                          \
    "local id = nextid('key', ARGV[2])\n"                                                          \
    "redis.call('HSET', P .. 'key:' .. id, 'account_id', ARGV[3], 'name', ARGV[4], 'type',\n"      \
    "  ARGV[5], 'prefix', ARGV[6], 'hash', ARGV[7], 'created_at', ARGV[8], 'last_used_at',\n"      \
    "  ARGV[9], 'revoked_at', ARGV[10], 'rate_per_second', ARGV[11], 'rate_burst', ARGV[12])\n"    \
    "redis.call('HSET', hashes, ARGV[7], id)\n"                                                    \
    "redis.call('ZADD', P .. 'keys', id, id)\n"                                                    \
    "redis.call('ZADD', P .. 'keys:' .. ARGV[3], id, id)\n"                                        \
    "bump()\n"                                                                                     \
    "return {0, id}\n")                                                                            \
  /* ARGV: account, id, when. */                                                                   \
  X(KEY_REVOKE, "if not live(ARGV[2], ARGV[3]) then return -5 end\n"                               \
                "redis.call('HSET', P .. 'key:' .. ARGV[3], 'revoked_at', ARGV[4])\n"              \
                "bump()\n"                                                                         \
                "return 0\n")                                                                      \
  /* ARGV: account, id, name, type, prefix, hash, rate_per_second, rate_burst. */                  \
  X(KEY_UPDATE,                                                                                    \
    "if not live(ARGV[2], ARGV[3]) then return -5 end\n"                                           \
    "local k, hashes = P .. 'key:' .. ARGV[3], P .. 'key_hashes'\n"                                \
    "local old = redis.call('HGET', k, 'hash')\n"                                                  \
    "if old ~= ARGV[7] then\n"                                                                     \
    "  if redis.call('HEXISTS', hashes, ARGV[7]) == 1 then return -8 end\n"                        \
    "  redis.call('HDEL', hashes, old)\n"                                                          \
    "  redis.call('HSET', hashes, ARGV[7], ARGV[3])\n"                                             \
    "end\n"                                                                                        \
    "redis.call('HSET', k, 'name', ARGV[4], 'type', ARGV[5], 'prefix', ARGV[6], 'hash',\n"         \
    "  ARGV[7], 'rate_per_second', ARGV[8], 'rate_burst', ARGV[9])\n"                              \
    "bump()\n"                                                                                     \
    "return 0\n")                                                                                  \
  /* ARGV: id, when. */                                                                            \
  X(KEY_TOUCH, "touch(ARGV[2], ARGV[3])\n"                                                         \
               "return 0\n")                                                                       \
  /* ARGV: (key, day, category, count, last_used)... */                                            \
  X(USAGE_ADD, "add_usage('usage:', 2)\n"                                                          \
               "return 0\n")                                                                       \
  /* ARGV: (key, day, category, count, last_used)...: the rows of batch tasks. */                  \
  X(BATCH_USAGE_ADD, "add_usage('batch_usage:', 2)\n"                                              \
                     "return 0\n")                                                                 \
  /* ARGV: account, what ('usage:' or 'batch_usage:'): {key id, {field, count, ...}}... */         \
  X(USAGE_EACH, "local out = {}\n"                                                                 \
                "for _, id in ipairs(redis.call('ZRANGE', P .. 'keys:' .. ARGV[2], 0, -1)) do\n"   \
                "  out[#out + 1] = {id, redis.call('HGETALL', P .. ARGV[3] .. id)}\n"              \
                "end\n"                                                                            \
                "return out\n")                                                                    \
  /* ARGV: account, JSON. */                                                                       \
  X(SETTINGS_PUT, "redis.call('HSET', P .. 'settings', ARGV[2], ARGV[3])\n"                        \
                  "bump()\n"                                                                       \
                  "return 0\n")                                                                    \
  /* ARGV: account (0: all): {account, colour, {domain, added_at, ...}}... */                      \
  X(LIST_EACH, "local accs = {ARGV[2]}\n"                                                          \
               "if ARGV[2] == '0' then accs = redis.call('ZRANGE', P .. 'accounts', 0, -1) end\n"  \
               "local out = {}\n"                                                                  \
               "for _, a in ipairs(accs) do\n"                                                     \
               "  for _, c in ipairs({'black', 'grey', 'white'}) do\n"                             \
               "    local rows = redis.call('HGETALL', P .. 'list:' .. a .. ':' .. c)\n"           \
               "    if #rows > 0 then out[#out + 1] = {a, c, rows} end\n"                          \
               "  end\n"                                                                           \
               "end\n"                                                                             \
               "return out\n")                                                                     \
  /* ARGV: account, colour, domain, now. */                                                        \
  X(LIST_ADD, "local k = P .. 'list:' .. ARGV[2] .. ':' .. ARGV[3]\n"                              \
              "if redis.call('HSETNX', k, ARGV[4], ARGV[5]) == 0 then return -8 end\n"             \
              "bump()\n"                                                                           \
              "return 0\n")                                                                        \
  /* ARGV: account, colour, domain. */                                                             \
  X(LIST_REMOVE, "local k = P .. 'list:' .. ARGV[2] .. ':' .. ARGV[3]\n"                           \
                 "if redis.call('HDEL', k, ARGV[4]) == 0 then return -5 end\n"                     \
                 "bump()\n"                                                                        \
                 "return 0\n")                                                                     \
  /* ARGV: account, colour, now, domains... */                                                     \
  X(LIST_REPLACE, "local k = P .. 'list:' .. ARGV[2] .. ':' .. ARGV[3]\n"                          \
                  "redis.call('DEL', k)\n"                                                         \
                  "for i = 5, #ARGV do redis.call('HSET', k, ARGV[i], ARGV[4]) end\n"              \
                  "bump()\n"                                                                       \
                  "return 0\n")                                                                    \
  /* ARGV: (account, colour, domain, added_at)... */                                               \
  X(LIST_PUT, "for i = 2, #ARGV, 4 do\n"                                                           \
              "  redis.call('HSET', P .. 'list:' .. ARGV[i] .. ':' .. ARGV[i + 1], ARGV[i + 2],\n" \
              "    ARGV[i + 3])\n"                                                                 \
              "end\n"                                                                              \
              "bump()\n"                                                                           \
              "return 0\n")                                                                        \
  /* ARGV: account (0: all): {account, {ip, attempts, banned_at, updated_at, ...}}... */           \
  X(BAN_EACH, "local accs = {ARGV[2]}\n"                                                           \
              "if ARGV[2] == '0' then accs = redis.call('SMEMBERS', P .. 'ban_accounts') end\n"    \
              "local out = {}\n"                                                                   \
              "for _, a in ipairs(accs) do\n"                                                      \
              "  local rows, flat = redis.call('HGETALL', P .. 'bans:' .. a), {}\n"                \
              "  for i = 1, #rows, 2 do\n"                                                         \
              "    local x, y, z = string.match(rows[i + 1], '^(%d+) (%d+) (%d+)$')\n"             \
              "    if x then\n"                                                                    \
              "      flat[#flat + 1] = rows[i]; flat[#flat + 1] = x\n"                             \
              "      flat[#flat + 1] = y; flat[#flat + 1] = z\n"                                   \
              "    end\n"                                                                          \
              "  end\n"                                                                            \
              "  if #flat > 0 then out[#out + 1] = {a, flat} end\n"                                \
              "end\n"                                                                              \
              "return out\n")                                                                      \
  /* ARGV: account, ip: {attempts, banned_at, updated_at} or {}. */                                \
  X(BAN_GET,                                                                                       \
    "if redis.call('HEXISTS', P .. 'bans:' .. ARGV[2], ARGV[3]) == 0 then return {} end\n"         \
    "local a, b, u = ban_get(ARGV[2], ARGV[3])\n"                                                  \
    "return {a, b, u}\n")                                                                          \
  /* ARGV: (account, ip, attempts, banned_at, updated_at)...: a stored ban is                      \
   * only replaced by another ban; an empty record removes a row not banned. */                    \
  X(BAN_PUT,                                                                                       \
    "for i = 2, #ARGV, 5 do\n"                                                                     \
    "  local acc, ip = ARGV[i], ARGV[i + 1]\n"                                                     \
    "  local a, b, u = tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3]), tonumber(ARGV[i + 4])\n"      \
    "  local _, stored = ban_get(acc, ip)\n"                                                       \
    "  if a == 0 and b == 0 then\n"                                                                \
    "    if stored == 0 then redis.call('HDEL', P .. 'bans:' .. acc, ip) end\n"                    \
    "  elseif stored == 0 or b ~= 0 then\n"                                                        \
    "    ban_set(acc, ip, a, b, u)\n"                                                              \
    "  end\n"                                                                                      \
    "end\n"                                                                                        \
    "return 0\n")                                                                                  \
  /* ARGV: account, ip, threshold, lift_seconds, now, origin: {attempts,                           \
   * banned_at, updated_at, counted}; a ban joins the change feed. */                              \
  X(BAN_HIT,                                                                                       \
    "local acc, ip = ARGV[2], ARGV[3]\n"                                                           \
    "local threshold, lift, now = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])\n"       \
    "local a, b, u = ban_get(acc, ip)\n"                                                           \
    "if b ~= 0 and lift ~= 0 and now - b >= lift then a, b = 0, 0 end\n"                           \
    "if b ~= 0 then return {a, b, u, 0} end\n"                                                     \
    "a, u = a + 1, now\n"                                                                          \
    "if a >= threshold then b = now end\n"                                                         \
    "ban_set(acc, ip, a, b, u)\n"                                                                  \
    "if b ~= 0 then change(ARGV[7], ARGV[6], acc, 'ban', ip, a, b) end\n"                          \
    "return {a, b, u, 1}\n")                                                                       \
  /* ARGV: account, ip ('': all), origin, now: rows deleted. */                                    \
  X(UNBAN, "local k, n = P .. 'bans:' .. ARGV[2], 0\n"                                             \
           "if ARGV[3] == '' then\n"                                                               \
           "  n = redis.call('HLEN', k)\n"                                                         \
           "  redis.call('DEL', k)\n"                                                              \
           "  change(ARGV[4], ARGV[5], ARGV[2], 'unban_all', '-', 0, 0)\n"                         \
           "else\n"                                                                                \
           "  n = redis.call('HDEL', k, ARGV[3])\n"                                                \
           "  change(ARGV[4], ARGV[5], ARGV[2], 'unban', ARGV[3], 0, 0)\n"                         \
           "end\n"                                                                                 \
           "return n\n")                                                                           \
  /* ARGV: cursor. Cursor 0: {the next id}; else id, origin, account, kind, ip,                    \
   * attempts, banned_at of up to 1000 changes from the cursor on. */                              \
  X(CHANGES,                                                                                       \
    "if ARGV[2] == '0' then\n"                                                                     \
    "  return {tonumber(redis.call('GET', P .. 'next:change') or '0') + 1} end\n"                  \
    "local out = {}\n"                                                                             \
    "for _, m in ipairs(redis.call('ZRANGEBYSCORE', P .. 'changes', ARGV[2], '+inf', 'LIMIT',\n"   \
    "    0, 1000)) do\n"                                                                           \
    "  local f = {string.match(m, '^(%d+) (%S+) %d+ (%d+) (%S+) (%S+) (%d+) (%d+)$')}\n"           \
    "  for i = 1, #f do out[#out + 1] = f[i] end\n"                                                \
    "end\n"                                                                                        \
    "return out\n")                                                                                \
  /* ARGV: name, fresh value: the secret. */                                                       \
  X(SECRET, "redis.call('SET', P .. 'secret:' .. ARGV[2], ARGV[3], 'NX')\n"                        \
            "redis.call('SADD', P .. 'secrets', ARGV[2])\n"                                        \
            "return redis.call('GET', P .. 'secret:' .. ARGV[2])\n")                               \
  /* ARGV: name, value. */                                                                         \
  X(SECRET_PUT, "redis.call('SET', P .. 'secret:' .. ARGV[2], ARGV[3])\n"                          \
                "redis.call('SADD', P .. 'secrets', ARGV[2])\n"                                    \
                "return 0\n")                                                                      \
  /* name, value, ... by name. */                                                                  \
  X(SECRET_EACH, "local names = redis.call('SMEMBERS', P .. 'secrets')\n"                          \
                 "table.sort(names)\n"                                                             \
                 "local out = {}\n"                                                                \
                 "for _, n in ipairs(names) do\n"                                                  \
                 "  local v = redis.call('GET', P .. 'secret:' .. n)\n"                            \
                 "  if v then out[#out + 1] = n; out[#out + 1] = v end\n"                          \
                 "end\n"                                                                           \
                 "return out\n")                                                                   \
  /* ARGV: ttl, (account, mailbox hex, spelling hex, last_seen)...: the                            \
   * mailbox's hash expires ttl after its newest spelling. */                                      \
  X(ALIAS_PUT, "local ttl = tonumber(ARGV[2])\n"                                                   \
               "for i = 3, #ARGV, 4 do\n"                                                          \
               "  local k = P .. 'alias:' .. ARGV[i] .. ':' .. ARGV[i + 1]\n"                      \
               "  local seen = tonumber(ARGV[i + 3])\n"                                            \
               "  if seen > tonumber(redis.call('HGET', k, ARGV[i + 2]) or '-1') then\n"           \
               "    redis.call('HSET', k, ARGV[i + 2], ARGV[i + 3])\n"                             \
               "    redis.call('ZADD', P .. 'aliases', seen,\n"                                    \
               "      ARGV[i] .. ':' .. ARGV[i + 1] .. ':' .. ARGV[i + 2])\n"                      \
               "  end\n"                                                                           \
               "  if redis.call('EXPIRETIME', k) < seen + ttl then\n"                              \
               "    redis.call('EXPIREAT', k, seen + ttl) end\n"                                   \
               "end\n"                                                                             \
               "return 0\n")                                                                       \
  /* ARGV: since, offset, count: {rows looked at, (account, mailbox hex,                           \
   * spelling hex, last_seen)...}, newest first. */                                                \
  X(ALIAS_ALL,                                                                                     \
    "local m = redis.call('ZREVRANGEBYSCORE', P .. 'aliases', '+inf', ARGV[2], 'WITHSCORES',\n"    \
    "  'LIMIT', ARGV[3], ARGV[4])\n"                                                               \
    "local out = {#m / 2}\n"                                                                       \
    "for i = 1, #m, 2 do\n"                                                                        \
    "  local acc, mb, sp = string.match(m[i], '^(%d+):(%x+):(%x+)$')\n"                            \
    "  if acc then\n"                                                                              \
    "    out[#out + 1] = acc; out[#out + 1] = mb; out[#out + 1] = sp\n"                            \
    "    out[#out + 1] = m[i + 1]\n"                                                               \
    "  end\n"                                                                                      \
    "end\n"                                                                                        \
    "return out\n")                                                                                \
  /* ARGV: before, count: {index rows looked at, spellings deleted}. */                            \
  X(ALIAS_TRIM,                                                                                    \
    "local before, gone = tonumber(ARGV[2]), 0\n"                                                  \
    "local m = redis.call('ZRANGEBYSCORE', P .. 'aliases', '-inf', '(' .. ARGV[2], 'LIMIT', 0,\n"  \
    "  tonumber(ARGV[3]))\n"                                                                       \
    "for _, x in ipairs(m) do\n"                                                                   \
    "  local acc, mb, sp = string.match(x, '^(%d+):(%x+):(%x+)$')\n"                               \
    "  if acc then\n"                                                                              \
    "    local k = P .. 'alias:' .. acc .. ':' .. mb\n"                                            \
    "    local seen = redis.call('HGET', k, sp)\n"                                                 \
    "    if seen and tonumber(seen) < before then\n"                                               \
    "      redis.call('HDEL', k, sp); gone = gone + 1 end\n"                                       \
    "  end\n"                                                                                      \
    "  redis.call('ZREM', P .. 'aliases', x)\n"                                                    \
    "end\n"                                                                                        \
    "return {#m, gone}\n")                                                                         \
  /* ARGV: domain, status name, created (days), checked_at, expires_at: the                        \
   * newest lookup wins, but a failure never replaces a found date. */                             \
  X(RDAP_PUT,                                                                                      \
    "local k = P .. 'rdap:' .. ARGV[2]\n"                                                          \
    "local cur = redis.call('HMGET', k, 'status', 'checked_at')\n"                                 \
    "if cur[2] and tonumber(ARGV[5]) < tonumber(cur[2]) then return 0 end\n"                       \
    "if ARGV[3] == 'failed' and cur[1] == 'found' then\n"                                          \
    "  redis.call('HSET', k, 'checked_at', ARGV[5], 'expires_at', ARGV[6])\n"                      \
    "else\n"                                                                                       \
    "  redis.call('HSET', k, 'status', ARGV[3], 'created', ARGV[4], 'checked_at', ARGV[5],\n"      \
    "    'expires_at', ARGV[6])\n"                                                                 \
    "end\n"                                                                                        \
    "redis.call('ZADD', P .. 'rdap_checked', ARGV[5], ARGV[2])\n"                                  \
    "redis.call('ZADD', P .. 'rdap_expires', ARGV[6], ARGV[2])\n"                                  \
    "return 0\n")                                                                                  \
  /* ARGV: offset, count, at: {rows looked at, then domain status created                          \
   * checked_at expires_at of those valid at `at`}, most recently checked first. */                \
  X(RDAP_EACH,                                                                                     \
    "local m = redis.call('ZREVRANGE', P .. 'rdap_checked', ARGV[2], tonumber(ARGV[2]) +\n"        \
    "  tonumber(ARGV[3]) - 1)\n"                                                                   \
    "local out = {#m}\n"                                                                           \
    "for _, d in ipairs(m) do\n"                                                                   \
    "  local r = redis.call('HMGET', P .. 'rdap:' .. d, 'status', 'created', 'checked_at',\n"      \
    "    'expires_at')\n"                                                                          \
    "  if r[1] and tonumber(r[4]) > tonumber(ARGV[4]) then\n"                                      \
    "    out[#out + 1] = d; out[#out + 1] = r[1]; out[#out + 1] = r[2]\n"                          \
    "    out[#out + 1] = r[3]; out[#out + 1] = r[4]\n"                                             \
    "  end\n"                                                                                      \
    "end\n"                                                                                        \
    "return out\n")                                                                                \
  /* ARGV: before, count: {index rows looked at, rows deleted}. */                                 \
  X(RDAP_TRIM, "local m = redis.call('ZRANGEBYSCORE', P .. 'rdap_expires', '-inf', '(' .. "        \
               "ARGV[2], 'LIMIT',\n"                                                               \
               "  0, tonumber(ARGV[3]))\n"                                                         \
               "local gone = 0\n"                                                                  \
               "for _, d in ipairs(m) do\n"                                                        \
               "  gone = gone + redis.call('DEL', P .. 'rdap:' .. d)\n"                            \
               "  redis.call('ZREM', P .. 'rdap_checked', d)\n"                                    \
               "  redis.call('ZREM', P .. 'rdap_expires', d)\n"                                    \
               "end\n"                                                                             \
               "return {#m, gone}\n")                                                              \
  /* ARGV: id (0: new), account, key_id, at, action, detail. */                                    \
  X(AUDIT_ADD,                                                                                     \
    "if ARGV[2] ~= '0' and redis.call('EXISTS', P .. 'audit:' .. ARGV[2]) == 1 then\n"             \
    "  return {-8} end\n"                                                                          \
    "local id = nextid('audit', ARGV[2])\n"                                                        \
    "redis.call('HSET', P .. 'audit:' .. id, 'account_id', ARGV[3], 'key_id', ARGV[4], 'at',\n"    \
    "  ARGV[5], 'action', ARGV[6], 'detail', ARGV[7])\n"                                           \
    "redis.call('ZADD', P .. 'audits:' .. ARGV[3], id, id)\n"                                      \
    "return {0, id}\n")                                                                            \
  /* ARGV: id, account, created_at, (field, value)...: a new task, listed by                       \
   * created_at then by insertion (a sequence), newest first. */                                   \
  X(BATCH_PUT, LUA_BATCH "local id, k = ARGV[2], P .. 'batch:' .. ARGV[2]\n"                       \
                         "if redis.call('EXISTS', P .. 'account:' .. ARGV[3]) == 0 then\n"         \
                         "  return redis.error_reply('no account ' .. ARGV[3]) end\n"              \
                         "if redis.call('EXISTS', k) == 1 then return -8 end\n"                    \
                         "local seq = redis.call('INCR', P .. 'next:batch')\n"                     \
                         "local score = fmt(tonumber(ARGV[4]) * 1000000 + seq % 1000000)\n"        \
                         "redis.call('HSET', k, 'seq', seq, unpack(ARGV, 5))\n"                    \
                         "redis.call('ZADD', P .. 'batches', score, id)\n"                         \
                         "redis.call('ZADD', P .. 'batches:' .. ARGV[3], score, id)\n"             \
                         "open(id)\n"                                                              \
                         "return 0\n")                                                             \
  /* ARGV: id, account, owner ('': anyone's), finish (1: only while                                \
   * processing), pairs, (field, value) x pairs, then batch usage (key, day,                       \
   * category, count, last_used)...: the progress and the usage at once, only                      \
   * while the task is owner's. */                                                                 \
  X(BATCH_WRITE, LUA_BATCH "local id, k = ARGV[2], P .. 'batch:' .. ARGV[2]\n"                     \
                           "local r = redis.call('HMGET', k, 'account_id', 'owner', 'status')\n"   \
                           "if r[1] ~= ARGV[3] then return -5 end\n"                               \
                           "if ARGV[4] ~= '' and r[2] ~= ARGV[4] then return -12 end\n"            \
                           "if ARGV[5] == '1' and r[3] ~= 'processing' then return -12 end\n"      \
                           "local last = 6 + 2 * tonumber(ARGV[6])\n"                              \
                           "redis.call('HSET', k, unpack(ARGV, 7, last))\n"                        \
                           "open(id)\n"                                                            \
                           "add_usage('batch_usage:', last + 1)\n"                                 \
                           "return 0\n")                                                           \
  /* ARGV: id, owner, lease ms, fields...: {0, values...} once owner's until                       \
   * now + lease; {-12} while another owner's lease runs; {-5} when the task is                    \
   * gone or no longer processing. */                                                              \
  X(BATCH_CLAIM, LUA_BATCH                                                                         \
    "local id, k = ARGV[2], P .. 'batch:' .. ARGV[2]\n"                                            \
    "local r = redis.call('HMGET', k, 'status', 'owner', 'lease_until')\n"                         \
    "if r[1] ~= 'processing' then return {-5} end\n"                                               \
    "local now = now_ms()\n"                                                                       \
    "if r[2] ~= ARGV[3] and (tonumber(r[3]) or 0) > now then return {-12} end\n"                   \
    "redis.call('HSET', k, 'owner', ARGV[3], 'lease_until', fmt(now + tonumber(ARGV[4])))\n"       \
    "open(id)\n"                                                                                   \
    "return row({0}, id, 5)\n")                                                                    \
  /* ARGV: id, owner: nobody's from now on (-12: not owner's, -5: gone). */                        \
  X(BATCH_RELEASE, LUA_BATCH "local k = P .. 'batch:' .. ARGV[2]\n"                                \
                             "local o = redis.call('HGET', k, 'owner')\n"                          \
                             "if not o then return -5 end\n"                                       \
                             "if o ~= ARGV[3] then return -12 end\n"                               \
                             "redis.call('HSET', k, 'owner', '', 'lease_until', 0)\n"              \
                             "open(ARGV[2])\n"                                                     \
                             "return 0\n")                                                         \
  /* ARGV: limit, fields...: id, values... of the tasks processing that nobody                     \
   * holds now, in the order they became free. */                                                  \
  X(BATCH_STALE,                                                                                   \
    LUA_BATCH "local out = {}\n"                                                                   \
              "for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'batch_open', '-inf',\n"       \
              "    fmt(now_ms()), 'LIMIT', 0, tonumber(ARGV[2]))) do\n"                            \
              "  out[#out + 1] = id\n"                                                             \
              "  row(out, id, 3)\n"                                                                \
              "end\n"                                                                              \
              "return out\n")                                                                      \
  /* ARGV: index (batches, batches:<account>), cursor ('+inf' or '(SCORE'),                        \
   * count, fields...: {tasks, last score, id, values..., ...}, newest first. */                   \
  X(BATCH_EACH,                                                                                    \
    LUA_BATCH "local m = redis.call('ZREVRANGEBYSCORE', P .. ARGV[2], ARGV[3], '-inf',\n"          \
              "  'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[4]))\n"                                   \
              "local out = {#m / 2, m[#m] or ''}\n"                                                \
              "for i = 1, #m, 2 do\n"                                                              \
              "  out[#out + 1] = m[i]\n"                                                           \
              "  row(out, m[i], 5)\n"                                                              \
              "end\n"                                                                              \
              "return out\n")                                                                      \
  /* ARGV: id, account (0: any). */                                                                \
  X(BATCH_DELETE, "local k = P .. 'batch:' .. ARGV[2]\n"                                           \
                  "local acc = redis.call('HGET', k, 'account_id')\n"                              \
                  "if not acc or (ARGV[3] ~= '0' and acc ~= ARGV[3]) then return -5 end\n"         \
                  "redis.call('DEL', k)\n"                                                         \
                  "redis.call('ZREM', P .. 'batches', ARGV[2])\n"                                  \
                  "redis.call('ZREM', P .. 'batches:' .. acc, ARGV[2])\n"                          \
                  "redis.call('ZREM', P .. 'batch_open', ARGV[2])\n"                               \
                  "return 0\n")                                                                    \
  /* ARGV: account, ring, top size, then per entry: its JSON (an object without                    \
   * "seq"), day, top domain, top ip ("": none). Numbers each entry, keeps the                     \
   * newest `ring`, and counts the day's tops (Space-Saving; `_over` hashes). */                   \
  X(ACTIVITY_ADD,                                                                                  \
    "local acc, cap = ARGV[2], tonumber(ARGV[4])\n"                                                \
    "local list = P .. 'activity:' .. acc\n"                                                       \
    "local function top(day, what, name)\n"                                                        \
    "  if name == '' then return end\n"                                                            \
    "  local z = P .. 'activity_top:' .. acc .. ':' .. day .. ':' .. what\n"                       \
    "  if redis.call('ZSCORE', z, name) then redis.call('ZINCRBY', z, 1, name)\n"                  \
    "  elseif redis.call('ZCARD', z) < cap then redis.call('ZADD', z, 1, name)\n"                  \
    "  else\n"                                                                                     \
    "    local m = redis.call('ZPOPMIN', z)\n"                                                     \
    "    redis.call('HDEL', z .. '_over', m[1])\n"                                                 \
    "    redis.call('ZADD', z, tonumber(m[2]) + 1, name)\n"                                        \
    "    redis.call('HSET', z .. '_over', name, m[2])\n"                                           \
    "  end\n"                                                                                      \
    "  redis.call('EXPIRE', z, 172800)\n"                                                          \
    "  redis.call('EXPIRE', z .. '_over', 172800)\n"                                               \
    "end\n"                                                                                        \
    "for i = 5, #ARGV, 4 do\n"                                                                     \
    "  local seq = redis.call('INCR', P .. 'activity_seq:' .. acc)\n"                              \
    "  redis.call('LPUSH', list, '{\"seq\":' .. seq .. ',' .. string.sub(ARGV[i], 2))\n"           \
    "  top(ARGV[i + 1], 'domains', ARGV[i + 2])\n"                                                 \
    "  top(ARGV[i + 1], 'ips', ARGV[i + 3])\n"                                                     \
    "end\n"                                                                                        \
    "redis.call('LTRIM', list, 0, tonumber(ARGV[3]) - 1)\n"                                        \
    "return 0\n")                                                                                  \
  /* ARGV: account, day, shown: {last seq, {entries, newest first}, {domain,                       \
   * count, over, ...}, {ip, count, over, ...}}, the most counted first. */                        \
  X(ACTIVITY_READ,                                                                                 \
    "local acc = ARGV[2]\n"                                                                        \
    "local out = {tonumber(redis.call('GET', P .. 'activity_seq:' .. acc) or '0'),\n"              \
    "  redis.call('LRANGE', P .. 'activity:' .. acc, 0, -1)}\n"                                    \
    "for _, what in ipairs({'domains', 'ips'}) do\n"                                               \
    "  local z = P .. 'activity_top:' .. acc .. ':' .. ARGV[3] .. ':' .. what\n"                   \
    "  local m = redis.call('ZREVRANGE', z, 0, tonumber(ARGV[4]) - 1, 'WITHSCORES')\n"             \
    "  local t = {}\n"                                                                             \
    "  for i = 1, #m, 2 do\n"                                                                      \
    "    t[#t + 1] = m[i]; t[#t + 1] = m[i + 1]\n"                                                 \
    "    t[#t + 1] = redis.call('HGET', z .. '_over', m[i]) or '0'\n"                              \
    "  end\n"                                                                                      \
    "  out[#out + 1] = t\n"                                                                        \
    "end\n"                                                                                        \
    "return out\n")                                                                                \
  /* ARGV: key id, per second, burst: GCRA on Redis's clock (every server                          \
   * agrees). {1, 0} allowed, {0, microseconds until one would be}. */                             \
  X(RATE,                                                                                          \
    "local k = P .. 'rate:' .. ARGV[2]\n"                                                          \
    "local t = redis.call('TIME')\n"                                                               \
    "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"                                      \
    "local T = 1000000 / tonumber(ARGV[3])\n"                                                      \
    "local tau = (tonumber(ARGV[4]) - 1) * T\n"                                                    \
    "local tat = tonumber(redis.call('GET', k) or '0')\n"                                          \
    "if tat < now then tat = now end\n"                                                            \
    "if tat - now > tau then return {0, string.format('%.0f', tat - tau - now)} end\n"             \
    "tat = tat + T\n"                                                                              \
    "redis.call('SET', k, string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1)\n"  \
    "return {1, 0}\n")

#define UC__REDIS_SCRIPT_ENUM(name, body) RS_##name,
enum redis_script { UC_REDIS_SCRIPTS(UC__REDIS_SCRIPT_ENUM) RS_COUNT };
#undef UC__REDIS_SCRIPT_ENUM

#endif
