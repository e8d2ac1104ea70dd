/*
 * error.c - the one error space: what each code means, the message helper
 * every module fills its `char **msg` with, and the quoting of untrusted bytes
 * in messages.
 *
 * These are the only copies in the project: the tools, fs and the compactor
 * call engine_strerror, engine_msgf and engine_quote rather than keep their own,
 * so a code reads the same and a name is escaped the same way everywhere.
 * Nothing here touches RocksDB (RocksDB's error strings are mapped in
 * store.c), so the fuzzers link this file alone, beside keys.c.
 */
#include "engine.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *engine_strerror(int code)
{
    switch (code) {
    case 0:
        return "success";
    case ENGINE_ENOTSTORE:
        return "not a syncstore store";
    case ENGINE_EFORMAT:
        return "store format is newer than this syncstore";
    case ENGINE_ELOCKED:
        return "store is held by another process";
    case ENGINE_ECORRUPT:
        return "store is corrupted";
    case ENGINE_ECANCELED:
        return "cancelled";
    default:
        return code < 0 && code > -4096 ? strerror(-code) : "unknown error";
    }
}

/* The message is malloc'd into *msg (NULL when out of memory); the caller
 * frees it. */
int engine_msgf(char **msg, int code, const char *fmt, ...)
{
    if (msg) {
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(msg, fmt, ap) < 0)
            *msg = NULL;
        va_end(ap);
    }
    return code;
}

/* Writes into out, which the caller owns, and returns it. */
const char *engine_quote(const void *data, size_t len, size_t max, char *out, size_t out_size)
{
    const unsigned char *s = data;
    size_t o = 0;
    if (out_size == 0)
        return out;
    for (size_t i = 0; i < len; i++) {
        /* Room for one escape, the "..." and the NUL. */
        if (i == max || o + 4 + 3 + 1 > out_size) {
            if (o + 3 + 1 <= out_size)
                o += (size_t)snprintf(out + o, out_size - o, "...");
            break;
        }
        if (s[i] >= 0x20 && s[i] < 0x7F && s[i] != '\\' && s[i] != '\'')
            out[o++] = (char)s[i];
        else
            o += (size_t)snprintf(out + o, out_size - o, "\\x%02x", s[i]);
    }
    out[o] = '\0';
    return out;
}
