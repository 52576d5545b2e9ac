/* libuc: the umbrella header. */
#ifndef UC_UC_H
#define UC_UC_H

#include "uc/email.h"
#include "uc/engine.h"
#include "uc/error.h"
#include "uc/jsonw.h"
#include "uc/lists.h"
#include "uc/result.h"

#define UC_VERSION "0.1.0"

#endif
