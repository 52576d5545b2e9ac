/* Internal: matching an account list against a domain and its parents. */
#ifndef UC_LIB_DOMSET_INT_H
#define UC_LIB_DOMSET_INT_H

#include "uc/engine.h"

/* The entry of s equal to d[0..n) or to its nearest parent, or NULL. */
const char *uc__domset_match(const uc_domset *s, const char *d, size_t n);

#endif
