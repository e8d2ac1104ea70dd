/*
 * gen.h - a deterministic, realistic synthetic sync for tests and benchmarks.
 *
 * gen_run() writes one sync through a loader as typed JSON lines (SPEC "load"),
 * exactly the lines `syncstore load` would read, one at a time: nothing grows
 * with the number of grants except the loader's own sorted runs.  The same
 * options always give the same bytes; the sync_id appears only as each line's
 * "sync" field, so two syncs generated with the same grants and seed differ only
 * in their sync_id.
 *
 * What is generated, from N = grants:
 *
 *   resource types  user, group, app, role (always 4)
 *   users     U = max(10, N / 20, 5 * sqrt(N)), raised further if needed so that
 *             N distinct grants fit (see below); ids user-0000042
 *   groups    G = max(2, U / 10);  ids group-000042
 *   apps      A = max(2, U / 40);  ids app-00042
 *   roles     R = max(2, U / 100); ids role-00042
 *   entitlements, unique ids namespaced by their resource:
 *             group:<group id>:member   one per group
 *             app:<app id>:access       one per app
 *             app:<app id>:admin        one per app
 *             role:<role id>:assigned   one per role
 *             E = G + 2A + R in all
 *   grants    exactly N, id <entitlement id>:<principal type>:<principal id>, so
 *             no two are the same.  Principals are users (about 90% of grants)
 *             and groups (about 10%, only on app and role entitlements).  Each
 *             principal gets a randomly varied share, at most half of the
 *             entitlements it may hold; it draws distinct entitlements from a
 *             Zipf distribution (s = 1.1) over a seeded popularity order, so a
 *             few entitlements are held by nearly everyone and most by few.
 *
 * Every grant's entitlement exists under entitlements/ and every principal under
 * resources/<principal type>/<principal id>.  Memory is a few small tables per
 * entitlement (the Zipf CDFs and the popularity order), O(E), not O(N).
 */
#ifndef SYNCSTORE_GEN_H
#define SYNCSTORE_GEN_H

#include <stdint.h>

#include "loader.h"

/* The largest grant count gen_run accepts. */
#define GEN_GRANTS_MAX 1000000000ULL

struct gen_options {
    const char *sync_id; /* the sync every line names; must be valid */
    uint64_t grants;     /* exactly this many grants, 0 to GEN_GRANTS_MAX */
    uint64_t seed;       /* the PRNG seed: same options, same bytes */
};

struct gen_stats {
    uint64_t resource_types;
    uint64_t users;
    uint64_t groups;
    uint64_t apps;
    uint64_t roles;
    uint64_t resources; /* users + groups + apps + roles */
    uint64_t entitlements;
    uint64_t grants;
    uint64_t lines; /* typed lines given to the loader */
};

/* Generates the sync described above into l, which should be in replace mode
 * so that the sync then holds exactly what was generated (the sync is named
 * even when N is 0).  The caller still commits or frees the loader.  stats may
 * be NULL.  Returns 0, -EINVAL (bad options), -ENOMEM, or the loader's error;
 * a failure stores a malloc'd message in *msg unless msg is NULL. */
int gen_run(loader *l, const struct gen_options *opt, struct gen_stats *stats, char **msg);

#endif
