/*
 * c1z_v1_i.h - what the two files of the v1 import share: c1z_v1.c walks the
 * SQLite file's tables and rows and makes their records; c1z_v1_row.c writes
 * one row as the JSON value of its record.
 */
#ifndef SYNCSTORE_C1Z_V1_I_H
#define SYNCSTORE_C1Z_V1_I_H

#include <stddef.h>

#include <sqlite3.h>

#include "buf.h"

struct pb_schema;

#define C1Z_KEY_COLS 4

/* Column positions of one table's SELECT *. */
struct v1_columns {
    int n;
    int id;                /* the row id column "id", or -1 */
    int sync_id;           /* always found */
    int key[C1Z_KEY_COLS]; /* the table's key columns, in table_def order */
    int data;              /* the "data" column, or -1 */
    char **json_name;      /* `,"name":` per column */
    char **json_name_b64;  /* `,"name_b64":` per column */
};

/* `,"name<suffix>":`, the JSON name a column's value is written under
 * ("type" becomes "type_column"); malloc'd, NULL when out of memory. */
char *c1z_v1_json_name(const char *name, const char *suffix);

/* The JSON value of st's current row into v (reset first): {"type":type} and
 * every column but the row id under its name (c->json_name), TEXT that is not
 * UTF-8 and BLOBs as base64 under "<name>_b64"; the data column decoded as
 * the protobuf message `message` (NULL: none) beside its bytes.  0 or
 * -ENOMEM. */
int c1z_v1_row_json(struct buf *v, const char *type, const char *message,
                    const struct pb_schema *schema, sqlite3_stmt *st, const struct v1_columns *c);

#endif
