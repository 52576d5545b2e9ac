/* libuc: the umbrella header, every public header of the library. */
#ifndef UC_UC_H
#define UC_UC_H

#include "uc/activity.h"
#include "uc/admin.h"
#include "uc/aliases.h"
#include "uc/bans.h"
#include "uc/batch.h"
#include "uc/buf.h"
#include "uc/config.h"
#include "uc/date.h"
#include "uc/dns.h"
#include "uc/email.h"
#include "uc/engine.h"
#include "uc/error.h"
#include "uc/follow.h"
#include "uc/infra.h"
#include "uc/ip.h"
#include "uc/jsonw.h"
#include "uc/keys.h"
#include "uc/learn.h"
#include "uc/lists.h"
#include "uc/ratelimit.h"
#include "uc/rdap.h"
#include "uc/request.h"
#include "uc/result.h"
#include "uc/settings.h"
#include "uc/store.h"
#include "uc/sync.h"
#include "uc/table.h"
#include "uc/usage.h"

#define UC_VERSION "0.2.0"

#endif
