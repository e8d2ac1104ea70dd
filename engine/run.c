/*
 * run.c - a sync's run record, "run/<sync_id>" (engine.h): what the file the
 * sync was imported from says of its run.  One line of four tab-separated
 * fields; this file owns its format.
 */
#include "engine_i.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RUN_FIELDS 4

static void run_name(char *name, size_t size, const char *sync_id)
{
    snprintf(name, size, ENGINE_META_RUN "%.128s", sync_id);
}

/* Appends s as a field: printable ASCII without tabs, others as '?'. */
static size_t put_field(char *out, size_t at, const char *s, size_t max)
{
    size_t n = 0;
    for (; n < max - 1 && s[n]; n++) {
        unsigned char c = (unsigned char)s[n];
        out[at + n] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    return at + n;
}

int engine_sync_run_put(engine *e, const char *sync_id, const struct engine_sync_run *run,
                        char **msg)
{
    char name[sizeof ENGINE_META_RUN + ENGINE_SYNC_ID_MAX];
    run_name(name, sizeof name, sync_id);
    char v[sizeof run->format + sizeof run->started_at + sizeof run->ended_at + sizeof run->type];
    size_t at = put_field(v, 0, run->format, sizeof run->format);
    v[at++] = '\t';
    at = put_field(v, at, run->started_at, sizeof run->started_at);
    v[at++] = '\t';
    at = put_field(v, at, run->ended_at, sizeof run->ended_at);
    v[at++] = '\t';
    at = put_field(v, at, run->type, sizeof run->type);
    return engine_meta_put(e, name, v, at, msg);
}

const char *engine_sync_run_problem(const char *value, size_t len)
{
    const size_t max[RUN_FIELDS] = {16, 64, 64, 32};
    size_t field = 0, flen = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)value[i];
        if (c == '\t') {
            if (++field == RUN_FIELDS)
                return "the run record has more than four fields";
            flen = 0;
        } else if (c < 0x20 || c >= 0x7f) {
            return "the run record holds a byte that is not printable ASCII";
        } else if (++flen >= max[field]) {
            return "a field of the run record is too long";
        }
    }
    if (field != RUN_FIELDS - 1)
        return "the run record has fewer than four fields";
    if (!memchr(value, '\t', len) || value[0] == '\t')
        return "the run record names no format";
    return NULL;
}

int engine_sync_run_get(engine *e, const char *sync_id, struct engine_sync_run *run, char **msg)
{
    char name[sizeof ENGINE_META_RUN + ENGINE_SYNC_ID_MAX];
    run_name(name, sizeof name, sync_id);
    char *v = NULL;
    size_t len = 0;
    int rc = engine_meta_get(e, name, &v, &len, msg);
    if (rc)
        return rc;
    if (!v)
        return -EIO;
    const char *why = engine_sync_run_problem(v, len);
    if (why) {
        free(v);
        return engine_msgf(msg, -EINVAL, "store '%s': metadata '%s': %s", e->path, name, why);
    }
    memset(run, 0, sizeof *run);
    char *fields[RUN_FIELDS] = {run->format, run->started_at, run->ended_at, run->type};
    const char *p = v;
    for (int f = 0; f < RUN_FIELDS; f++) {
        const char *tab = f + 1 < RUN_FIELDS ? strchr(p, '\t') : p + strlen(p);
        memcpy(fields[f], p, (size_t)(tab - p)); /* lengths checked above */
        p = tab + 1;
    }
    free(v);
    return 0;
}

int engine_sync_run_delete(engine *e, const char *sync_id, char **msg)
{
    char name[sizeof ENGINE_META_RUN + ENGINE_SYNC_ID_MAX];
    run_name(name, sizeof name, sync_id);
    return engine_meta_delete(e, name, msg);
}
