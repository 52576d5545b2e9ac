/* Batch verification (SPEC §6): reading a list (CSV, TSV, TXT, XLSX), finding
 * its email column, classifying every row, and writing the cleaned file with
 * the input's rows and columns unchanged plus category, domain_type,
 * mx_record and did_you_mean. One function, uc_batch_clean, does the whole
 * job with a check callback, so that `usercleaning clean` and the server's
 * batch workers share it; the task records, file layout and restart rules of
 * the server are in docs/internals/batch.md.
 *
 * Readers use libcsv (CSV/TSV), libzip + expat (XLSX, streamed) and a
 * bounded line reader (TXT); the writers libcsv's quoting and libxlsxwriter.
 * Errors are UC_EFORMAT (the file is malformed: err says where and why),
 * UC_ETOOBIG (a cell, row or sheet past the bounds below), UC_EIO, UC_ENOMEM,
 * or UC_ECANCELED (a callback asked to stop). Every function is reentrant. */
#ifndef UC_BATCH_H
#define UC_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "uc/dns.h"
#include "uc/engine.h"
#include "uc/infra.h"
#include "uc/keys.h"

/* Bounds of what a list may hold: past them the file is refused with a reason. */
#define UC_BATCH_CELL_MAX (1u << 20)      /* bytes of one cell */
#define UC_BATCH_ROW_MAX (4u << 20)       /* bytes of one row, all cells */
#define UC_BATCH_COLUMNS_MAX 16384        /* cells of one row (XLSX's own limit) */
#define UC_BATCH_XLSX_ROWS 1048576        /* rows of a sheet (XLSX's own limit) */
#define UC_BATCH_STRINGS_MAX (256u << 20) /* bytes of an XLSX's shared strings */
#define UC_BATCH_SAMPLE_ROWS 1000         /* rows looked at to find the email column */

enum uc_batch_format { UC_BATCH_CSV, UC_BATCH_TSV, UC_BATCH_TXT, UC_BATCH_XLSX };

/* The format named by a file name's extension (.csv .tsv .txt .xlsx, any
 * case). UC_OK or UC_EINVAL. */
int uc_batch_format_of(const char *name, enum uc_batch_format *out);
/* "csv", "tsv", "txt", "xlsx"; and the media type of its results. */
const char *uc_batch_format_name(enum uc_batch_format f);
const char *uc_batch_format_mime(enum uc_batch_format f);
/* The format results are written in: the input's, TXT -> CSV. */
enum uc_batch_format uc_batch_result_format(enum uc_batch_format in);

/* ---- reading ---- */

enum uc_batch_cell_kind { UC_CELL_TEXT, UC_CELL_NUMBER, UC_CELL_BOOL };

struct uc_batch_cell {
  const char *p; /* not NUL-terminated; valid during the row callback */
  size_t n;
  uint8_t kind; /* enum uc_batch_cell_kind: XLSX keeps numbers and booleans as such */
};

struct uc_batch_row {
  const struct uc_batch_cell *cells;
  size_t n;       /* 0: a blank line */
  uint64_t index; /* 0-based position among the file's rows */
};

/* What a reader learnt about the text layout, for the writer to keep it. */
struct uc_batch_layout {
  char delim; /* ',' ';' or '\t' (CSV/TSV) */
  int bom;    /* the file started with a UTF-8 byte order mark */
  int crlf;   /* lines end with CR LF */
};

/* Non-zero stops the reading; uc_batch_read returns that value. */
typedef int (*uc_batch_row_fn)(void *arg, const struct uc_batch_row *row);

/* Calls fn for every row of the file at path, in order, and fills *layout
 * (may be NULL). CSV: RFC 4180 (quoted cells hold delimiters, quotes and
 * newlines), a UTF-8 BOM skipped, ',' ';' or tab detected from the first
 * line (.tsv: tab). TXT: one cell per line. XLSX: the first sheet of the
 * workbook, shared and inline strings, gaps between rows as blank rows and
 * between cells as empty cells. Every cell is checked to be UTF-8. */
int uc_batch_read(const char *path, enum uc_batch_format f, struct uc_batch_layout *layout,
                  uc_batch_row_fn fn, void *arg, char *err, size_t err_size);
/* The same over bytes in memory (the fuzz harnesses, the unit tests). */
int uc_batch_read_mem(const void *data, size_t len, enum uc_batch_format f,
                      struct uc_batch_layout *layout, uc_batch_row_fn fn, void *arg, char *err,
                      size_t err_size);

/* ---- writing ---- */

typedef struct uc_batch_writer uc_batch_writer;

enum uc_batch_write_flag {
  UC_BATCH_WRITE_SYNC = 1u << 0, /* fsync the file before it takes its name (the server) */
};

/* Creates the file at path ("-": standard output, CSV/TSV only) in format f,
 * keeping layout's delimiter, BOM and line ends for CSV/TSV (NULL: ',' and
 * CR LF). XLSX is written row by row in constant memory, with temporary files
 * in tmpdir (NULL: the system's). flags: enum uc_batch_write_flag. */
int uc_batch_writer_open(const char *path, enum uc_batch_format f,
                         const struct uc_batch_layout *layout, const char *tmpdir, unsigned flags,
                         uc_batch_writer **out, char *err, size_t err_size);
/* Appends one row: cells then extra. */
int uc_batch_writer_row(uc_batch_writer *w, const struct uc_batch_cell *cells, size_t n,
                        const struct uc_batch_cell *extra, size_t nextra, char *err,
                        size_t err_size);
/* Finishes the file (flushed; synced with UC_BATCH_WRITE_SYNC), renames it
 * into place and frees w, also on error. */
int uc_batch_writer_close(uc_batch_writer *w, char *err, size_t err_size);
/* Frees w and removes what it wrote. NULL is fine. */
void uc_batch_writer_abort(uc_batch_writer *w);

/* ---- the email column ---- */

/* Whether a header cell names an email column: "email", "e-mail", "Email
 * Address", "email_address", "mail", ... (case, spaces, '-' and '_' aside). */
int uc_batch_header_is_email(const char *p, size_t n);

/* ---- cleaning ---- */

/* The added columns, in order. */
#define UC_BATCH_EXTRA 4
extern const char *const uc_batch_extra_names[UC_BATCH_EXTRA]; /* category, domain_type, ... */
#define UC_BATCH_BLANK_TYPE "blank"                            /* domain_type of a blank row */

/* What the check said about one address. */
struct uc_batch_verdict {
  uc_category category;
  uc_type type;
  char mx_record[UC_DNS_NAMES];                            /* the API's mx_record */
  char did_you_mean[UC_LOCAL_MAX + 1 + UC_DOMAIN_MAX + 1]; /* a suggested address or "" */
};

/* Classifies addr[0..n) (not blank) into *v. */
typedef void (*uc_batch_check_fn)(void *ctx, const char *addr, size_t n,
                                  struct uc_batch_verdict *v);

struct uc_batch_counts {
  uint64_t rows_total; /* data rows (a header excluded); known after the first pass */
  uint64_t rows_done;  /* data rows written or dropped as duplicates */
  uint64_t category[3];
  uint64_t type[UC_TYPE_COUNT]; /* invalid rows: type[UC_T_INVALID] */
  uint64_t blank;               /* rows without an address, kept and marked */
  uint64_t duplicates;          /* earlier occurrences dropped */
};

/* The two passes over the file: counting rows (and the last occurrence of
 * each address), then checking and writing them. */
enum uc_batch_phase { UC_BATCH_COUNTING = 1, UC_BATCH_CHECKING = 2 };

/* Called every job->progress_every rows of each phase, at its end and at the
 * start of checking (rows_total then final; while counting it grows);
 * non-zero cancels the job (UC_ECANCELED). */
typedef int (*uc_batch_progress_fn)(void *ctx, enum uc_batch_phase phase,
                                    const struct uc_batch_counts *c);

struct uc_batch_job {
  const char *in;
  enum uc_batch_format in_format;
  const char *out; /* "-": standard output */
  enum uc_batch_format out_format;
  int deduplicate; /* keep the last occurrence of each address (case-insensitive) */
  const char *tmpdir;
  uc_batch_check_fn check;
  void *check_ctx;
  uc_batch_progress_fn progress; /* may be NULL */
  void *progress_ctx;
  unsigned progress_every; /* rows; 0: 4096 */
  const _Atomic int *stop; /* may be NULL: once non-zero, the job ends at the next row */
  int sync;                /* the result is fsync'ed before it takes its name */
};

/* Cleans job->in into job->out: finds the email column (a header cell named
 * like one, else the first column whose cells mostly hold an '@'; TXT: the
 * line), counts the rows, then writes each row with the added columns; blank
 * rows are kept and marked (domain_type "blank"), never classified; with
 * deduplicate, only the last occurrence of an address is written. A header
 * row, when there is one, gets the added columns' names; TXT results always
 * have one ("email", ...). *counts (may be NULL) holds the totals. On error
 * the output is removed and err says why ("no column of ... holds email
 * addresses", "row 12: ..."). */
int uc_batch_clean(const struct uc_batch_job *job, struct uc_batch_counts *counts, char *err,
                   size_t err_size);

/* The engine as a uc_batch_check_fn (ctx: a struct uc_batch_checker): the
 * list phase, DNS facts when dns is set (waiting up to dns_timeout ms on the
 * calling thread: batch work runs on threads that may block), the decision
 * with policy. A sandbox checker answers like a sandbox key. */
struct uc_batch_checker {
  const uc_lists *lists;
  const struct uc_policy *policy;
  uc_dns *dns;           /* NULL: no DNS (mx_record "unknown") */
  const uc_infra *infra; /* fingerprints for DNS answers; may be NULL */
  unsigned dns_timeout;  /* ms */
  int sandbox;
};
void uc_batch_check(void *checker, const char *addr, size_t n, struct uc_batch_verdict *v);

/* ---- tasks (the server's asynchronous jobs) ---- */

#define UC_BATCH_ID_LEN 36        /* a UUID: 8-4-4-4-12 lower-case hex */
#define UC_BATCH_PROJECT_CHARS 50 /* characters of a project name */
#define UC_BATCH_PROJECT_MAX (UC_BATCH_PROJECT_CHARS * 4)
#define UC_BATCH_FILENAME_MAX 255
#define UC_BATCH_REASON_MAX 300
#define UC_BATCH_OWNER_MAX 63 /* "host:pid:nonce/wN": the server and worker running a task */

enum uc_batch_status { UC_BATCH_PROCESSING, UC_BATCH_COMPLETED, UC_BATCH_FAILED };
const char *uc_batch_status_name(enum uc_batch_status s);
int uc_batch_status_parse(const char *s, enum uc_batch_status *out);

/* One task as the store keeps it (docs/internals/batch.md). */
struct uc_batch_rec {
  char id[UC_BATCH_ID_LEN + 1];
  int64_t account_id, key_id;
  uc_key_type key_type; /* sandbox keys classify like sandbox checks */
  char project[UC_BATCH_PROJECT_MAX + 1];
  char filename[UC_BATCH_FILENAME_MAX + 1]; /* as uploaded (its last path segment) */
  enum uc_batch_format format;              /* of the upload */
  int deduplicate;
  enum uc_batch_status status;
  struct uc_batch_counts counts;
  uint64_t upload_bytes, result_bytes;  /* what the task keeps on disk */
  int64_t created_at, finished_at;      /* unix seconds; finished 0: not yet */
  unsigned attempts;                    /* starts, restarts included */
  char reason[UC_BATCH_REASON_MAX + 1]; /* why it failed */
  /* Who runs it (uc_store_batch_claim): "" when nobody has claimed it (or it
   * was released), and until when, in unix ms on the store's clock; past
   * lease_until any server may take it over. */
  char owner[UC_BATCH_OWNER_MAX + 1];
  int64_t lease_until;
};

/* A new random task id (UUID version 4), NUL-terminated. */
void uc_batch_id_new(char out[UC_BATCH_ID_LEN + 1]);
/* Whether s[0..n) is a task id as uc_batch_id_new makes them. */
int uc_batch_id_valid(const char *s, size_t n);
/* Whether name is a project name: 1..50 characters of UTF-8, no control characters. */
int uc_batch_project_valid(const char *name, size_t n);

/* The status object of the API ({"task_id","status","project_name",...},
 * docs/api.md) as compact JSON text: free() it. NULL on ENOMEM. */
char *uc_batch_rec_json(const struct uc_batch_rec *t);

/* ---- running tasks (the server's workers) ---- */

struct uc_store;
/* Where a task keeps its files: ROOT/ACCOUNT/ID (the upload, then the result). */
int uc_batch_task_dir(const char *root, int64_t account, const char *id, char *out, size_t size);
/* ROOT/ACCOUNT/ID/upload.EXT and ROOT/ACCOUNT/ID/result.EXT. */
int uc_batch_task_file(const char *root, const struct uc_batch_rec *t, int result, char *out,
                       size_t size);

/* Runs task t (status processing, as uc_store_batch_claim gave it: t->owner
 * set; "" on a store that only this process uses) from its upload to its
 * result with the check k. The run writes RESULT.NONCE.EXT, its own name,
 * and renames it to the result once the task is still its owner's; whatever
 * earlier runs left in the task's directory is removed first. Progress goes
 * to the store every second or so, refused once another server took the
 * task over. At the end the task is completed (its counts, result size and
 * batch usage, sandbox keys aside, in one write: counted once) or failed
 * (with the reason). Returns UC_OK when it finished either way;
 * UC_ECANCELED when *stop became non-zero (the task stays processing, to be
 * run again) or the task was deleted meanwhile (its files are removed);
 * UC_EBUSY when another server took it over (this run leaves nothing);
 * else the store's error (the task stays processing). */
int uc_batch_task_run(struct uc_store *st, const char *root, struct uc_batch_rec *t,
                      const struct uc_batch_checker *k, const _Atomic int *stop);

/* Deletes the task (UC_ENOTFOUND when the account has none by that id) and
 * its files. */
int uc_batch_task_delete(struct uc_store *st, const char *root, int64_t account, const char *id);

/* Bytes the account's tasks keep on disk (uploads and results). */
int uc_batch_used_bytes(struct uc_store *st, int64_t account, uint64_t *bytes);

/* Creates dir and its parents (0700). UC_OK or UC_EIO. */
int uc_batch_mkdirs(const char *dir);
/* Removes a directory tree (a task's files). */
void uc_batch_rmtree(const char *dir);

#endif
