/*
 * gen.c - the synthetic sync of `syncstore gen` (gen.h): its sizes for N
 * grants, and the placement of exactly N grants with Zipf-skewed popularity;
 * the files it drives write the lines (gen_i.h: gen_rng.c the PRNG streams,
 * gen_line.c the line writer, gen_records.c what each record says).
 *
 * Everything is streamed: the loader receives one line at a time.  The only
 * tables are per entitlement (the popularity order, two Zipf CDFs and a "drawn
 * by this principal" stamp), so memory does not grow with N beyond what the
 * loader itself uses.  Names and counts are computed with integers; the only
 * floating point is the Zipf CDF and share arithmetic, which is
 * IEEE-deterministic, so the same options give the same bytes everywhere.
 *
 * Exactly N grants: principals are visited in a fixed order (groups, then
 * users); each gets a randomly varied share of the grants still to place,
 * clamped so that it never exceeds its cap (half the entitlements it may hold)
 * and so that the principals after it can still hold the rest.  The sizes are
 * chosen so that the caps add up to at least N.  Each principal then draws that
 * many distinct entitlements by rejection sampling from the Zipf distribution,
 * with a linear probe after too many rejections so the draw always ends.
 */
#include "gen.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "gen_i.h"

#define GEN_ZIPF_S 1.1
#define GEN_MAX_REJECTS 32
/* Share of the grants that go to groups as principals. */
#define GEN_GROUP_SHARE 0.1

/* ---- Sizes ---- */

static void sizes_derive(struct gen_sizes *z, uint64_t users)
{
    z->users = users;
    z->groups = users / 10 > 2 ? users / 10 : 2;
    z->apps = users / 40 > 2 ? users / 40 : 2;
    z->roles = users / 100 > 2 ? users / 100 : 2;
    z->ents_sub = 2 * z->apps + z->roles;
    z->ents = z->groups + z->ents_sub;
    z->user_cap = z->ents / 2;
    z->group_cap = z->ents_sub / 2;
}

/* The sizes for n grants, as gen.h documents them. */
static void sizes_for(struct gen_sizes *z, uint64_t n)
{
    uint64_t users = n / 20;
    uint64_t by_sqrt = (uint64_t)ceil(5.0 * sqrt((double)n));
    if (by_sqrt > users)
        users = by_sqrt;
    if (users < 10)
        users = 10;
    for (;;) {
        sizes_derive(z, users);
        if (z->users * z->user_cap + z->groups * z->group_cap >= n)
            return;
        users += users / 8 + 1;
    }
}

/* ---- Grants ---- */

/* A Zipf distribution over the n entitlements of order (most popular first). */
struct zipf {
    uint32_t n;
    double *cdf;     /* cdf[k]: probability of a rank <= k; cdf[n-1] == 1 */
    uint32_t *order; /* rank -> entitlement index */
};

static int zipf_init(struct zipf *zp, uint32_t n)
{
    zp->n = n;
    if (n == 0)
        return -EINVAL;
    zp->cdf = malloc((size_t)n * sizeof(*zp->cdf));
    zp->order = malloc((size_t)n * sizeof(*zp->order));
    if (!zp->cdf || !zp->order)
        return -ENOMEM;
    for (uint32_t k = 0; k < n; k++)
        zp->order[k] = k; /* callers shuffle it */
    double sum = 0;
    for (uint32_t k = 0; k < n; k++) {
        sum += pow((double)k + 1, -GEN_ZIPF_S);
        zp->cdf[k] = sum;
    }
    for (uint32_t k = 0; k < n; k++)
        zp->cdf[k] /= sum;
    zp->cdf[n - 1] = 1.0;
    return 0;
}

static void zipf_release(struct zipf *zp)
{
    free(zp->cdf);
    free(zp->order);
    zp->cdf = NULL;
    zp->order = NULL;
}

/* The first rank whose CDF exceeds u, u in [0, 1). */
static uint32_t zipf_rank(const struct zipf *zp, double u)
{
    uint32_t lo = 0, hi = zp->n - 1;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (zp->cdf[mid] > u)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* Draws an entitlement not yet stamped with mark and stamps it.  The caller
 * guarantees that one is left. */
static uint32_t zipf_draw_distinct(const struct zipf *zp, struct gen_rng *r, uint32_t *stamp,
                                   uint32_t mark)
{
    uint32_t rank = 0;
    for (int tries = 0; tries < GEN_MAX_REJECTS; tries++) {
        rank = zipf_rank(zp, gen_rng_double(r));
        uint32_t ent = zp->order[rank];
        if (stamp[ent] != mark) {
            stamp[ent] = mark;
            return ent;
        }
    }
    for (;;) {
        rank = rank + 1 == zp->n ? 0 : rank + 1;
        uint32_t ent = zp->order[rank];
        if (stamp[ent] != mark) {
            stamp[ent] = mark;
            return ent;
        }
    }
}

/* Places exactly n grants over the principals: groups first, then users. */
static int gen_grants(struct gen_state *g, uint64_t n, uint64_t seed, char **msg)
{
    const struct gen_sizes *z = &g->z;
    struct zipf all = {0}, sub = {0};
    uint32_t *stamp = NULL;
    int rc = 0;

    if (n == 0)
        return 0;
    if (zipf_init(&all, (uint32_t)z->ents) || zipf_init(&sub, (uint32_t)z->ents_sub))
        goto err_nomem;
    stamp = calloc(z->ents, sizeof(*stamp));
    if (!stamp)
        goto err_nomem;

    /* Popularity: a seeded shuffle of all entitlements; groups may only hold
     * app and role entitlements, ranked in the same relative order. */
    struct gen_rng r;
    gen_rng_init(&r, seed, STREAM_POPULARITY);
    for (uint32_t k = all.n - 1; k > 0; k--) {
        uint32_t j = (uint32_t)gen_rng_below(&r, (uint64_t)k + 1);
        uint32_t t = all.order[k];
        all.order[k] = all.order[j];
        all.order[j] = t;
    }
    for (uint32_t k = 0, m = 0; k < all.n; k++)
        if (all.order[k] >= z->groups)
            sub.order[m++] = all.order[k];

    struct gen_rng shares, draws, fields;
    gen_rng_init(&shares, seed, STREAM_SHARES);
    gen_rng_init(&draws, seed, STREAM_DRAWS);
    gen_rng_init(&fields, seed, STREAM_GRANT_FIELDS);

    /* Weights: all users together 1 - GEN_GROUP_SHARE, all groups the rest. */
    double w_user = 1.0;
    double w_group = (double)z->users * GEN_GROUP_SHARE / (1.0 - GEN_GROUP_SHARE) / z->groups;
    double weight_left = z->users * w_user + z->groups * w_group;
    uint64_t left = n;
    uint64_t cap_left = z->users * z->user_cap + z->groups * z->group_cap;
    uint64_t principals = z->groups + z->users;

    for (uint64_t p = 0; p < principals; p++) {
        int is_group = p < z->groups;
        uint64_t who = is_group ? p : p - z->groups;
        uint64_t cap = is_group ? z->group_cap : z->user_cap;
        double w = is_group ? w_group : w_user;

        /* A share around left * w / weight_left, exponentially varied. */
        double mean = weight_left > 0 ? (double)left * w / weight_left : (double)left;
        double f = 0.5 + 0.5 * -log1p(-gen_rng_double(&shares));
        double want = floor(mean * f + gen_rng_double(&shares));
        uint64_t k = want > (double)cap ? cap : (uint64_t)want;
        uint64_t lo = left > cap_left - cap ? left - (cap_left - cap) : 0;
        if (k < lo)
            k = lo;
        if (k > left)
            k = left;
        if (k > cap)
            k = cap;
        weight_left -= w;
        cap_left -= cap;
        left -= k;

        const struct zipf *zp = is_group ? &sub : &all;
        uint32_t mark = (uint32_t)(p + 1);
        for (uint64_t i = 0; i < k; i++) {
            uint32_t ent = zipf_draw_distinct(zp, &draws, stamp, mark);
            if ((rc = gen_records_grant(g, ent, is_group, who, &fields, msg)))
                goto out;
        }
    }
    if (left != 0) {
        rc = -EIO;
        if (msg && asprintf(msg, "gen: %" PRIu64 " grants could not be placed", left) < 0)
            *msg = NULL;
        goto out;
    }
    goto out;

err_nomem:
    rc = -ENOMEM;
    if (msg)
        *msg = strdup("gen: out of memory for the entitlement tables");
out:
    free(stamp);
    zipf_release(&all);
    zipf_release(&sub);
    return rc;
}

/* ---- Entry point ---- */

int gen_run(loader *l, const struct gen_options *opt, struct gen_stats *stats, char **msg)
{
    struct gen_state g = {.l = l};
    int rc;

    if (!opt->sync_id) {
        if (msg)
            *msg = strdup("gen: no sync_id");
        return -EINVAL;
    }
    if ((rc = engine_check_sync_id(opt->sync_id, strlen(opt->sync_id), msg)))
        return rc;
    if (opt->grants > GEN_GRANTS_MAX) {
        if (msg && asprintf(msg, "gen: --grants %" PRIu64 " is more than the maximum %llu",
                            opt->grants, GEN_GRANTS_MAX) < 0)
            *msg = NULL;
        return -EINVAL;
    }

    sizes_for(&g.z, opt->grants);
    gen_line_init(&g, opt->sync_id);

    if ((rc = loader_name_sync(l, opt->sync_id, msg)))
        goto err;
    if ((rc = gen_records_resource_types(&g, msg)))
        goto err;
    if ((rc = gen_records_users(&g, opt->seed, msg)) ||
        (rc = gen_records_groups(&g, opt->seed, msg)) ||
        (rc = gen_records_apps(&g, opt->seed, msg)) || (rc = gen_records_roles(&g, opt->seed, msg)))
        goto err;
    if ((rc = gen_records_entitlements(&g, msg)))
        goto err;
    if ((rc = gen_grants(&g, opt->grants, opt->seed, msg)))
        goto err;
    if (stats)
        *stats = g.st;
err:
    gen_line_release(&g);
    return rc;
}
