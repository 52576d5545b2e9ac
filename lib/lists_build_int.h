/* Internal: the two text formats uc_lists_build() reads -- the INI manifest
 * and the lines of a list source -- parsed from memory, so that the unit
 * tests and fuzz/fuzz_manifest.c, fuzz/fuzz_lists_line.c reach them without
 * files. uc_lists_build() is the only other caller. */
#ifndef UC_LIB_LISTS_BUILD_INT_H
#define UC_LIB_LISTS_BUILD_INT_H

#include <stddef.h>

#include "uc/email.h"
#include "uc/lists.h"

/* Longest line of a list source, with its newline and NUL: a longer line is
 * skipped whole (counted as invalid). */
#define UC__LIST_LINE_MAX 1024

/* ---- the manifest: one INI section per source ----
 *
 *   key      value                                   required
 *   file     path, relative to the build's root      yes, unless url
 *   url      http(s) URL of the living list          no (lists update fetches it)
 *   kind     disposable, multi-alias, guard, free,   yes
 *            premium, typo, role
 *   date     YYYY-MM-DD: the date of every entry     with file
 *            of file that has none of its own
 *   version  free text, < 24 bytes                   no
 *   license, comment                                 no (ignored)
 *
 * Any other key, a bad value, more than UC_LISTS_MAX_SOURCES sections or a
 * section name of 48 bytes or more, or one that is not [A-Za-z0-9][A-Za-z0-9._-]*
 * (it names files beside the snapshot), is an error. */
struct uc__list_source {
  char name[48], kind[16], version[24], file[512]; /* NUL-terminated; "" when absent */
  char url[1024];                                  /* "" when absent */
  unsigned date;                                   /* days since 1970, 0 when absent */
  unsigned flag;                                   /* the UC_LF_ bit of kind, 0 when absent */
  /* Filled when the build resolves the source: */
  char path[1100]; /* what is read: the copy beside the snapshot, or root/file; "": nothing */
  unsigned count, skipped_invalid, skipped_suffix;
};

struct uc__manifest {
  struct uc__list_source src[UC_LISTS_MAX_SOURCES];
  int nsrc;
  int bad; /* set by the INI handler on an unknown key or too many sources */
  char bad_msg[160];
};

/* Parses the manifest text (NUL-terminated) into m, which the caller zeroes
 * first. name is what errors call the text (a path, "manifest"). Returns
 * UC_OK; UC_EFORMAT with "name:LINE: reason" in err; UC_ENOMEM. Sources are
 * not checked for completeness here: see uc__list_source_check(). */
int uc__manifest_parse(const char *text, const char *name, struct uc__manifest *m, char *err,
                       size_t es);

/* UC_OK when s has a kind, and a file with a date or a url; else UC_EFORMAT with err. */
int uc__list_source_check(const struct uc__list_source *s, char *err, size_t es);

/* ---- a line of a list source: "entry [YYYY-MM-DD] [# comment]" ---- */

enum uc__list_line_result {
  UC__LINE_EMPTY,   /* blank, or only a comment */
  UC__LINE_INVALID, /* an entry the address parser refuses (domains), or too long */
  UC__LINE_ENTRY,   /* *out is set */
};

struct uc__list_entry {
  /* A domain in the address parser's form (lower-case A-label, at most
   * UC_DOMAIN_MAX bytes, with a dot), or for role sources a local part with
   * A-Z lower-cased and nothing else checked. NUL-terminated. */
  char name[UC__LIST_LINE_MAX];
  size_t len;
  unsigned date; /* the line's own date, 0 when it has none or a malformed one */
};

/* Parses line[0..len) (a NUL ends it early; the newline may be there or not).
 * Fields are separated by spaces, tabs, CR or LF; a '#' starts the comment;
 * a third field and beyond are ignored. role: the entry is a local part
 * (role sources), else a domain. Returns an enum uc__list_line_result. */
int uc__list_line_parse(const char *line, size_t len, int role, struct uc__list_entry *out);

/* Parses a list as fetched: a JSON array of strings when its first byte
 * (after blanks and a UTF-8 BOM) is '[', else lines as above. Each entry
 * goes through uc__list_line_parse; cb (non-zero stops, and is returned) is
 * called for each, and *invalid counts what is not an entry (a line the
 * parser refuses, an array element that is not a string). UC_OK; UC_EFORMAT
 * for an array that does not parse as JSON; cb's value. */
typedef int (*uc__list_entry_cb)(void *arg, const struct uc__list_entry *e);
int uc__list_body_parse(const char *data, size_t len, int role, uc__list_entry_cb cb, void *arg,
                        size_t *invalid);

/* ---- the history beside a snapshot (docs/internals/history.md) ----
 * S.d/history/NAME.txt: "entry YYYY-MM-DD" lines, the day source NAME first
 * listed entry in our lists. */

/* The day entry first appeared in source's history beside snapshot; 0 when
 * it is not there (or the file cannot be read). */
unsigned uc__history_find(const char *snapshot, const char *source, const char *entry);

/* The list flag (enum uc_list_flag) of a source kind ("disposable", "multi-alias",
 * "guard", "free", "premium", "typo", "role"), or 0 for none of them. */
unsigned uc__list_kind_flag(const char *kind);

#endif
