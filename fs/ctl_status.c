/*
 * ctl_status.c - the status of each sync's compaction or deletion through ctl/.
 *
 * Reading /ctl/compact/<sync_id> gives the status of the sync's latest
 * attempt as one JSON object (SPEC "ctl/compact"): this mount's attempt while
 * the mount lives, else the record the last attempt persisted as metadata
 * "status/<sync_id>" (so it survives a remount), else state "none".  This file
 * is in two groups: the status record's format (how a record is written,
 * persisted and recognised as running: all of it, so that it can move to the
 * engine's metadata module as one piece), and this mount's statuses (under
 * fs->lock), which live until fs_free.
 */
#include "fs_i.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- The status record: its JSON format and its metadata name ---- */

#define STATUS_PREFIX "status/"
#define STATUS_RUNNING "\"state\":\"running\""

static void status_name(char *out, size_t size, const char *sync_id)
{
    snprintf(out, size, STATUS_PREFIX "%s", sync_id);
}

/* Writes a JSON string, or null. */
void status_json_string(FILE *f, const char *s)
{
    if (!s) {
        fputs("null", f);
        return;
    }
    fputc('"', f);
    for (const char *p = s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if ((unsigned char)*p < 0x20)
            fprintf(f, "\\u%04x", (unsigned char)*p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

/* The record of a status, malloc'd into *out; a running attempt's seconds
 * are counted up to now when running_now.  0, or -ENOMEM (*out NULL). */
static int status_json(const struct status *st, int running_now, char **out, size_t *len)
{
    *out = NULL;
    FILE *f = open_memstream(out, len);
    if (!f)
        return -ENOMEM;
    fprintf(f, "{\"sync_id\":\"%s\",\"state\":\"%s\",\"source\":", st->sync_id, st->state);
    status_json_string(f, st->source);
    double secs = running_now ? fs_now() - st->started : st->seconds;
    fprintf(f, ",\"keys\":%llu,\"bytes\":%llu,\"seconds\":%.3f,\"error\":",
            (unsigned long long)st->keys, (unsigned long long)st->bytes, secs);
    status_json_string(f, st->error);
    fputs("}\n", f);
    if (ferror(f) | fclose(f)) {
        free(*out);
        *out = NULL;
        return -ENOMEM;
    }
    return 0;
}

void status_persist(struct fs *fs, const struct status *st)
{
    char *json = NULL;
    size_t len = 0;
    if (status_json(st, 0, &json, &len))
        return; /* unpersisted, as when the put below fails */
    char name[sizeof STATUS_PREFIX + ENGINE_SYNC_ID_MAX];
    status_name(name, sizeof name, st->sync_id);
    engine_meta_put(fs->e, name, json, len, NULL);
    free(json);
}

/* The persisted record of a sync (malloc'd): 0, or a negative error. */
static int status_load(struct fs *fs, const char *sync_id, char **out, size_t *len)
{
    char name[sizeof STATUS_PREFIX + ENGINE_SYNC_ID_MAX];
    status_name(name, sizeof name, sync_id);
    return engine_meta_get(fs->e, name, out, len, NULL);
}

/* Rewrites a record persisted as running by a mount that died (an
 * engine_meta_list callback). */
static int status_fix_one(void *arg, const char *name, const char *value, size_t len)
{
    struct fs *fs = arg;
    if (!memmem(value, len, STATUS_RUNNING, strlen(STATUS_RUNNING)))
        return 0;
    struct status st = {0};
    snprintf(st.sync_id, sizeof st.sync_id, "%s", name + strlen(STATUS_PREFIX));
    snprintf(st.state, sizeof st.state, "failed");
    st.error = "interrupted: the mount stopped while the compaction ran; the base was not "
               "changed unless the sync's data shows it";
    status_persist(fs, &st);
    return 0;
}

void status_fix_interrupted(struct fs *fs)
{
    engine_meta_list(fs->e, STATUS_PREFIX, status_fix_one, fs, NULL);
}

struct status_walk {
    const char *after;
    char *out;
    int found;
};

static int status_walk_one(void *arg, const char *name, const char *value, size_t len)
{
    (void)value;
    (void)len;
    struct status_walk *w = arg;
    const char *sync = name + strlen(STATUS_PREFIX);
    if (strcmp(sync, w->after) <= 0)
        return 0;
    snprintf(w->out, ENGINE_SYNC_ID_MAX + 1, "%s", sync);
    w->found = 1;
    return 1;
}

int status_next(struct fs *fs, const char *after, char *out)
{
    struct status_walk w = {.after = after, .out = out};
    int rc = engine_meta_list(fs->e, STATUS_PREFIX, status_walk_one, &w, NULL);
    if (rc < 0)
        return rc;
    return w.found;
}

/* ---- This mount's statuses ---- */

struct status *status_find(struct fs *fs, const char *sync_id)
{
    for (struct status *s = fs->statuses; s; s = s->next)
        if (!strcmp(s->sync_id, sync_id))
            return s;
    return NULL;
}

int status_text(struct fs *fs, const char *sync_id, char **out, size_t *len)
{
    pthread_mutex_lock(&fs->lock);
    struct status *st = status_find(fs, sync_id);
    if (st) {
        int rc = status_json(st, st->running, out, len);
        pthread_mutex_unlock(&fs->lock);
        return rc;
    }
    pthread_mutex_unlock(&fs->lock);
    int rc = status_load(fs, sync_id, out, len);
    if (rc != -ENOENT)
        return rc;
    struct status none = {.state = "none"};
    snprintf(none.sync_id, sizeof none.sync_id, "%s", sync_id);
    return status_json(&none, 0, out, len);
}

int status_exists(struct fs *fs, const char *sync_id)
{
    pthread_mutex_lock(&fs->lock);
    int found = status_find(fs, sync_id) != NULL;
    pthread_mutex_unlock(&fs->lock);
    if (found)
        return 1;
    char *v = NULL;
    int rc = status_load(fs, sync_id, &v, NULL);
    free(v);
    return rc == 0 ? 1 : rc == -ENOENT ? 0 : rc;
}

int status_begin(struct fs *fs, const char *sync_id, const char *source, struct status **out)
{
    /* Refuse a second run of the same sync before touching its status. */
    struct status *st = status_find(fs, sync_id);
    if (st && st->running)
        return -EBUSY;
    if (!st) {
        st = calloc(1, sizeof *st);
        if (!st)
            return -ENOMEM;
        snprintf(st->sync_id, sizeof st->sync_id, "%s", sync_id);
        st->next = fs->statuses;
        fs->statuses = st;
    }
    free(st->source);
    free(st->error);
    st->source = source ? strdup(source) : NULL;
    st->error = NULL;
    st->keys = st->bytes = 0;
    st->seconds = 0;
    st->started = fs_now();
    st->running = 1;
    snprintf(st->state, sizeof st->state, "running");
    fs->compactions_running++;
    *out = st;
    return 0;
}

void status_end(struct fs *fs, struct status *st, int rc, const char *state, uint64_t keys,
                uint64_t bytes, char *msg)
{
    st->running = 0;
    st->seconds = fs_now() - st->started;
    st->keys = keys;
    st->bytes = bytes;
    fs->compactions_running--;
    if (rc == ENGINE_ECANCELED)
        snprintf(st->state, sizeof st->state, "cancelled");
    else if (rc)
        snprintf(st->state, sizeof st->state, "failed");
    else
        snprintf(st->state, sizeof st->state, "%s", state);
    if (rc) {
        st->error = msg ? msg : strdup(engine_strerror(rc));
        msg = NULL;
        fs->compactions_failed++;
        st->failed++;
    } else {
        fs->compactions_done++;
        st->done++;
    }
    free(msg);
}

void status_free_all(struct fs *fs)
{
    while (fs->statuses) {
        struct status *s = fs->statuses;
        fs->statuses = s->next;
        free(s->source);
        free(s->error);
        free(s);
    }
}
