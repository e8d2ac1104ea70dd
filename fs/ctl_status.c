/*
 * ctl_status.c - the status of each sync's compaction or deletion through ctl/.
 *
 * Reading /ctl/compact/<sync_id> gives the status of the sync's latest
 * attempt as one JSON object (SPEC "ctl/compact"): this mount's attempt while
 * the mount lives, else the record the last attempt persisted as metadata
 * "status/<sync_id>" (so it survives a remount), else state "none".  The
 * record's format and metadata name are the engine's (engine_status_*); this
 * file keeps this mount's statuses (under fs->lock), which live until fs_free.
 */
#include "fs_i.h"

#include <errno.h>
#include <syslog.h>
#include <stdlib.h>
#include <string.h>

/* ---- The status record, through the engine's codec ---- */

/* The record of a status, malloc'd into *out; a running attempt's seconds
 * are counted up to now.  0 or -ENOMEM. */
static int status_encode(const struct status *st, char **out, size_t *len)
{
    struct engine_status rec = st->rec;
    if (st->running)
        rec.seconds = fs_now() - st->started;
    return engine_status_encode(&rec, out, len);
}

void status_persist(struct fs *fs, const struct status *st)
{
    char *msg = NULL;
    if (engine_status_put(fs->e, &st->rec, &msg))
        fs_log(LOG_WARNING, "cannot persist the status of %s: %s", st->rec.sync_id,
               msg ? msg : "out of memory");
    free(msg);
}

/* Rewrites a record persisted as running by a mount that died (an
 * engine_meta_list callback). */
static int status_fix_one(void *arg, const char *name, const char *value, size_t len)
{
    (void)name;
    struct fs *fs = arg;
    struct engine_status rec = {0};
    if (engine_status_decode(value, len, &rec, NULL))
        return 0; /* not a record this mount can read: `check` reports it */
    if (rec.state == ENGINE_STATUS_RUNNING) {
        struct status st = {.rec = rec};
        st.rec.state = ENGINE_STATUS_FAILED;
        st.rec.error = "interrupted: the mount stopped while the compaction ran; the base was "
                       "not changed unless the sync's data shows it";
        status_persist(fs, &st);
    }
    engine_status_release(&rec);
    return 0;
}

void status_fix_interrupted(struct fs *fs)
{
    engine_meta_list(fs->e, ENGINE_META_STATUS, status_fix_one, fs, NULL);
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
    const char *sync = name + strlen(ENGINE_META_STATUS);
    if (strcmp(sync, w->after) <= 0)
        return 0;
    snprintf(w->out, ENGINE_SYNC_ID_MAX + 1, "%s", sync);
    w->found = 1;
    return 1;
}

int status_next(struct fs *fs, const char *after, char *out)
{
    struct status_walk w = {.after = after, .out = out};
    int rc = engine_meta_list(fs->e, ENGINE_META_STATUS, status_walk_one, &w, NULL);
    if (rc < 0)
        return rc;
    return w.found;
}

/* ---- This mount's statuses ---- */

struct status *status_find(struct fs *fs, const char *sync_id)
{
    for (struct status *s = fs->statuses; s; s = s->next)
        if (!strcmp(s->rec.sync_id, sync_id))
            return s;
    return NULL;
}

int status_text(struct fs *fs, const char *sync_id, char **out, size_t *len)
{
    pthread_mutex_lock(&fs->lock);
    struct status *st = status_find(fs, sync_id);
    if (st) {
        int rc = status_encode(st, out, len);
        pthread_mutex_unlock(&fs->lock);
        return rc;
    }
    pthread_mutex_unlock(&fs->lock);
    struct status persisted = {0};
    int rc = engine_status_get(fs->e, sync_id, &persisted.rec, NULL);
    if (rc == -ENOENT || rc == -EINVAL) { /* none, or one this mount cannot read */
        snprintf(persisted.rec.sync_id, sizeof persisted.rec.sync_id, "%s", sync_id);
        persisted.rec.state = ENGINE_STATUS_NONE;
    } else if (rc) {
        return rc;
    }
    rc = status_encode(&persisted, out, len);
    engine_status_release(&persisted.rec);
    return rc;
}

int status_exists(struct fs *fs, const char *sync_id)
{
    pthread_mutex_lock(&fs->lock);
    int found = status_find(fs, sync_id) != NULL;
    pthread_mutex_unlock(&fs->lock);
    if (found)
        return 1;
    struct engine_status rec = {0};
    int rc = engine_status_get(fs->e, sync_id, &rec, NULL);
    engine_status_release(&rec);
    if (rc == 0 || rc == -EINVAL) /* a record, readable or not */
        return 1;
    return rc == -ENOENT ? 0 : rc;
}

int status_begin(struct fs *fs, const char *sync_id, const char *source, struct status **out)
{
    /* The caller holds the sync's claim (engine_sync_claim): no attempt runs. */
    struct status *st = status_find(fs, sync_id);
    if (!st) {
        st = calloc(1, sizeof *st);
        if (!st)
            return -ENOMEM;
        snprintf(st->rec.sync_id, sizeof st->rec.sync_id, "%s", sync_id);
        st->next = fs->statuses;
        fs->statuses = st;
    }
    char *copy = NULL;
    if (source && !(copy = strdup(source)))
        return -ENOMEM;
    free(st->rec.source);
    free(st->rec.error);
    st->rec.source = copy;
    st->rec.error = NULL;
    st->rec.keys = st->rec.bytes = 0;
    st->rec.seconds = 0;
    st->rec.state = ENGINE_STATUS_RUNNING;
    st->rec.method = ENGINE_STATUS_METHOD_NONE; /* known once it ends (ctl_write.c) */
    st->rec.files_copied = st->rec.bytes_copied = st->rec.pieces = st->rec.threads = 0;
    st->started = fs_now();
    st->running = 1;
    fs->compactions_running++;
    *out = st;
    return 0;
}

void status_end(struct fs *fs, struct status *st, int rc, enum engine_status_state state,
                uint64_t keys, uint64_t bytes, char *msg)
{
    st->running = 0;
    st->rec.seconds = fs_now() - st->started;
    st->rec.keys = keys;
    st->rec.bytes = bytes;
    fs->compactions_running--;
    if (rc == ENGINE_ECANCELED)
        st->rec.state = ENGINE_STATUS_CANCELLED;
    else if (rc)
        st->rec.state = ENGINE_STATUS_FAILED;
    else
        st->rec.state = state;
    if (rc) {
        st->rec.error = msg ? msg : strdup(engine_strerror(rc));
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
        engine_status_release(&s->rec);
        free(s);
    }
}
