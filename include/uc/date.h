/* Dates and times, always UTC. */
#ifndef UC_DATE_H
#define UC_DATE_H

#include <stddef.h>
#include <stdint.h>

/* Days since 1970-01-01 for "YYYY-MM-DD"; 0 when malformed. */
unsigned uc_date_parse(const char *s, size_t n);
/* Writes "YYYY-MM-DD" (11 bytes with the NUL) for days since 1970-01-01. */
void uc_date_format(unsigned days, char out[11]);
/* Writes "DD.MM.YYYY" (11 bytes with the NUL): the hosted API's date_added form. */
void uc_date_format_dmy(unsigned days, char out[11]);
/* Days since 1970-01-01 of unix time t (UTC); t before 1970 gives 0. */
unsigned uc_date_of(int64_t t);

/* strftime of unix time t in UTC (gmtime_r: safe on any thread) into
 * out[0..size); returns the length, 0 (out "") when it does not fit. */
size_t uc_time_format(int64_t t, const char *fmt, char *out, size_t size);
#define UC_TIME_ISO "%Y-%m-%dT%H:%M:%SZ"
#define UC_TIME_ISO_MAX 21 /* "2026-11-26T14:12:27Z" and its NUL */

#endif
