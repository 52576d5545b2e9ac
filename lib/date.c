/* Dates and times in UTC: days since 1970 for the lists and usage, and the
 * text forms the API and the CLI print (include/uc/date.h). */
#include "uc/date.h"

#include <time.h>

/* Proleptic Gregorian, no time zones involved. */
unsigned uc_date_parse(const char *s, size_t n) {
  unsigned y, m, d;
  if (n != 10 || s[4] != '-' || s[7] != '-')
    return 0;
  for (size_t i = 0; i < 10; i++)
    if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
      return 0;
  y = (unsigned)((s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0'));
  m = (unsigned)((s[5] - '0') * 10 + (s[6] - '0'));
  d = (unsigned)((s[8] - '0') * 10 + (s[9] - '0'));
  if (y < 1970 || y > 2149 || m < 1 || m > 12 || d < 1 || d > 31)
    return 0;
  /* days_from_civil (H. Hinnant) */
  int yy = (int)y - (m <= 2);
  int era = yy / 400;
  unsigned yoe = (unsigned)(yy - era * 400);
  unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  long days = (long)era * 146097 + (long)doe - 719468;
  return days > 0 && days <= 0xFFFF ? (unsigned)days : 0;
}

void uc_date_format(unsigned days, char out[11]) {
  long z = (long)days + 719468;
  long era = z / 146097;
  unsigned doe = (unsigned)(z - era * 146097);
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  long y = (long)yoe + era * 400;
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  unsigned mp = (5 * doy + 2) / 153;
  unsigned d = doy - (153 * mp + 2) / 5 + 1;
  unsigned m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
  unsigned yy = (unsigned)(y % 10000); /* digits by hand: this runs for many checks */
  out[0] = (char)('0' + yy / 1000), out[1] = (char)('0' + yy / 100 % 10);
  out[2] = (char)('0' + yy / 10 % 10), out[3] = (char)('0' + yy % 10);
  out[4] = '-', out[5] = (char)('0' + m / 10), out[6] = (char)('0' + m % 10);
  out[7] = '-', out[8] = (char)('0' + d / 10), out[9] = (char)('0' + d % 10);
  out[10] = 0;
}

void uc_date_format_dmy(unsigned days, char out[11]) {
  char iso[11];
  uc_date_format(days, iso);
  out[0] = iso[8], out[1] = iso[9], out[2] = '.', out[3] = iso[5], out[4] = iso[6], out[5] = '.';
  for (int i = 0; i < 4; i++)
    out[6 + i] = iso[i];
  out[10] = 0;
}

unsigned uc_date_of(int64_t t) {
  return t > 0 ? (unsigned)(t / 86400) : 0;
}

size_t uc_time_format(int64_t t, const char *fmt, char *out, size_t size) {
  struct tm tm;
  time_t tt = (time_t)t;
  if (!size)
    return 0;
  out[0] = 0;
  if (!gmtime_r(&tt, &tm)) /* thread-safe, unlike gmtime */
    return 0;
  return strftime(out, size, fmt, &tm);
}
