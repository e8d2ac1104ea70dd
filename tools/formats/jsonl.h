/*
 * jsonl.h - the JSON Lines input format of `syncstore load` (SPEC "load"):
 * one record per line, raw ({"bucket", "key", "value"}) or typed ({"type":
 * "resource_type" | "resource" | "entitlement" | "grant", ...}, stored under
 * the data model's keys, model.h).  gen writes the same typed lines.
 */
#ifndef SYNCSTORE_JSONL_H
#define SYNCSTORE_JSONL_H

#include <stddef.h>

#include "buf.h"
#include "loader.h"
#include "model.h"

/* ---- Parsing one line, touching no store (fuzzed: tests/fuzz) ---- */

/* One record of a parsed line.  bucket is NUL-terminated; key and value are
 * byte strings that may hold NUL. */
struct jsonl_record {
    const char *bucket;
    const char *key;
    size_t key_len;
    const char *value;
    size_t value_len;
};

#define JSONL_LINE_RECORDS MODEL_RECORD_KEYS

/* A parsed line: its sync (NUL-terminated; NULL for a blank line) and its
 * records: none for a blank line, one for a raw line and for a typed
 * resource_type, resource or entitlement, three for a grant (the grant, then
 * its grants_by_entitlement and grants_by_principal entries).  The pointers
 * borrow from the line (a typed record's value is the line itself), from
 * default_sync and from the struct's private fields: they stay valid until
 * jsonl_line_release() and while the line and default_sync do. */
struct jsonl_line {
    const char *sync;
    size_t n_records;
    struct jsonl_record records[JSONL_LINE_RECORDS];
    void *json;                           /* private: the parsed object */
    struct buf owned[JSONL_LINE_RECORDS]; /* private: decoded or joined bytes */
};

/* Parses one JSON line (a trailing "\n" and "\r" are allowed; it need not be
 * NUL-terminated) into *out, which is always initialized and must be released
 * with jsonl_line_release(), whatever the result.  default_sync (may be NULL)
 * is the sync of a line without "sync".  Returns 0, or -EINVAL and a message
 * for a line that is not one of SPEC's forms.  The parts are not checked
 * against the data model's limits here (sync_id and bucket syntax, key and
 * value lengths): loader_add() does that, so a line that parses may still be
 * refused when its records are added. */
int jsonl_parse_line(const char *line, size_t len, const char *default_sync, struct jsonl_line *out,
                     char **msg);
void jsonl_line_release(struct jsonl_line *pl);

/* ---- Loading lines ---- */

/* Parses one line with the loader's default sync and adds its records to l.
 * A blank line adds nothing and returns 0.  A bad line returns -EINVAL and a
 * message that says why (the caller adds the line number). */
int jsonl_add_line(loader *l, const char *line, size_t len, char **msg);

#endif
