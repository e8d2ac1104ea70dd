/*
 * gen_line.c - the line writer of `syncstore gen`: every line is built in one
 * reused buffer as typed JSON (SPEC "load"), closed with the sync's field, and
 * handed to jsonl_add_line(), the same path as typed `load`, then forgotten,
 * so that nothing grows with the number of lines.
 */
#include "gen_i.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine.h"
#include "jsonl.h"

/* Timestamps fall in the five years from 2019-01-01T00:00:00Z. */
#define GEN_EPOCH 1546300800ULL
#define GEN_SPAN (5ULL * 365 * 24 * 3600)

/* Appends ,"name":"<JSON string of s>" to b. */
static void add_str(struct buf *b, const char *name, const char *s, size_t len)
{
    buf_addc(b, ',');
    buf_add_json_string(b, name, strlen(name));
    buf_addc(b, ':');
    buf_add_json_string(b, s, len);
}

void gen_line_init(struct gen_state *g, const char *sync_id)
{
    buf_init(&g->line);
    buf_init(&g->tmp);
    buf_init(&g->tail);
    add_str(&g->tail, "sync", sync_id, strlen(sync_id));
    buf_addc(&g->tail, '}');
}

void gen_line_release(struct gen_state *g)
{
    buf_release(&g->line);
    buf_release(&g->tmp);
    buf_release(&g->tail);
}

void gen_line_str(struct gen_state *g, const char *name, const char *s, size_t len)
{
    add_str(&g->line, name, s, len);
}

void gen_line_strz(struct gen_state *g, const char *name, const char *s)
{
    add_str(&g->line, name, s, strlen(s));
}

void gen_line_tmp(struct gen_state *g, const char *name)
{
    add_str(&g->line, name, g->tmp.data, g->tmp.len);
    buf_reset(&g->tmp);
}

uint64_t gen_line_time(struct gen_state *g, const char *name, struct gen_rng *r, uint64_t after)
{
    if (after < GEN_EPOCH)
        after = GEN_EPOCH;
    uint64_t secs = after + gen_rng_below(r, GEN_EPOCH + GEN_SPAN - after);
    time_t t = (time_t)secs;
    struct tm tm;
    char text[32];
    gmtime_r(&t, &tm);
    size_t n = strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm);
    add_str(&g->line, name, text, n);
    return secs;
}

void gen_line_begin(struct gen_state *g, enum model_type t)
{
    const char *type = model_type_name(t);
    buf_reset(&g->line);
    buf_adds(&g->line, "{\"type\":");
    buf_add_json_string(&g->line, type, strlen(type));
}

int gen_line_end(struct gen_state *g, char **msg)
{
    buf_add(&g->line, g->tail.data, g->tail.len);
    /* A failed append leaves a buffer incomplete until released. */
    if (buf_error(&g->line) || buf_error(&g->tmp) || buf_error(&g->tail))
        return engine_msgf(msg, -ENOMEM, "gen: out of memory");
    char *why = NULL;
    int rc = jsonl_add_line(g->l, g->line.data, g->line.len, msg ? &why : NULL);
    if (rc) {
        if (msg) {
            if (asprintf(msg, "generated line rejected: %s: %.200s",
                         why ? why : engine_strerror(rc), g->line.data) < 0)
                *msg = NULL;
        }
        free(why);
        return rc;
    }
    g->st.lines++;
    return 0;
}
