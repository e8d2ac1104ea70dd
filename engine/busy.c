/*
 * busy.c - which syncs of an open store a writer holds (the busy registry).
 *
 * A compaction or deletion of a sync claims it for its whole run, so that a
 * second one of the same sync in this process is refused with -EBUSY instead
 * of racing it to the switch.  The registry belongs to the open store (one per
 * base handle), and every writer of a base asks it: the compactor, and the
 * mount before it touches the sync's status.  Another process cannot write
 * the base at all (RocksDB's LOCK), so nothing here needs to cross processes.
 */
#include "engine_i.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct engine_claim {
    struct engine_claim *next;
    char sync_id[]; /* NUL-terminated */
};

int engine_sync_claim(engine *e, const char *sync_id)
{
    size_t n = strlen(sync_id) + 1;
    struct engine_claim *c = malloc(sizeof *c + n);
    if (!c)
        return -ENOMEM;
    memcpy(c->sync_id, sync_id, n);
    pthread_mutex_lock(&e->busy_lock);
    for (const struct engine_claim *o = e->busy; o; o = o->next) {
        if (!strcmp(o->sync_id, sync_id)) {
            pthread_mutex_unlock(&e->busy_lock);
            free(c);
            return -EBUSY;
        }
    }
    c->next = e->busy;
    e->busy = c;
    pthread_mutex_unlock(&e->busy_lock);
    return 0;
}

void engine_sync_release(engine *e, const char *sync_id)
{
    struct engine_claim *found = NULL;
    pthread_mutex_lock(&e->busy_lock);
    for (struct engine_claim **p = &e->busy; *p; p = &(*p)->next) {
        if (!strcmp((*p)->sync_id, sync_id)) {
            found = *p;
            *p = found->next;
            break;
        }
    }
    pthread_mutex_unlock(&e->busy_lock);
    free(found);
}

void engine_busy_init(engine *e)
{
    pthread_mutex_init(&e->busy_lock, NULL);
    e->busy = NULL;
}

void engine_busy_destroy(engine *e)
{
    while (e->busy) {
        struct engine_claim *c = e->busy;
        e->busy = c->next;
        free(c);
    }
    pthread_mutex_destroy(&e->busy_lock);
}
