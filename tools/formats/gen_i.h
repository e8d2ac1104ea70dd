/*
 * gen_i.h - what the files of the generator (gen.h) share: the seeded PRNG
 * streams (gen_rng.c), the line writer that hands each typed JSON line to the
 * loader (gen_line.c), and the records of each kind (gen_records.c), which
 * gen.c drives: it sizes the sync and places exactly N grants.
 */
#ifndef SYNCSTORE_GEN_I_H
#define SYNCSTORE_GEN_I_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "gen.h"
#include "loader.h"
#include "model.h"

/* ---- gen_rng.c: xoshiro256** seeded by splitmix64. ---- */

struct gen_rng {
    uint64_t s[4];
};

/* One independent stream per kind of thing, so that changing how many draws
 * one kind makes does not move the others. */
enum gen_stream {
    STREAM_USERS = 1,
    STREAM_GROUPS,
    STREAM_APPS,
    STREAM_ROLES,
    STREAM_POPULARITY,
    STREAM_SHARES,
    STREAM_DRAWS,
    STREAM_GRANT_FIELDS,
};

/* Streams with different numbers are independent sequences of one seed. */
void gen_rng_init(struct gen_rng *r, uint64_t seed, uint64_t stream);
/* Uniform in [0, n); n > 0. */
uint64_t gen_rng_below(struct gen_rng *r, uint64_t n);
/* Uniform in [0, 1). */
double gen_rng_double(struct gen_rng *r);

/* ---- The sizes of the sync (gen.c computes them, gen.h documents them). ---- */

/* Entitlements are numbered [0, G) group member, [G, G+A) app access,
 * [G+A, G+2A) app admin, [G+2A, E) role assigned: gen_records.c names them,
 * gen.c relies on the groups' coming first (groups hold only the others). */

struct gen_sizes {
    uint64_t users, groups, apps, roles;
    uint64_t ents;     /* all entitlements: groups + 2 apps + roles */
    uint64_t ents_sub; /* those groups may hold: 2 apps + roles */
    uint64_t user_cap, group_cap;
};

/* ---- gen_line.c: one line at a time, in reused buffers. ---- */

struct gen_state {
    loader *l;
    struct gen_sizes z;
    struct buf line;
    struct buf tmp;
    struct buf tail; /* ,"sync":"<sync_id>"} */
    struct gen_stats st;
};

/* Sets up the buffers for lines of sync_id (already checked); l and z are the
 * caller's to set. */
void gen_line_init(struct gen_state *g, const char *sync_id);
void gen_line_release(struct gen_state *g);

/* Starts {"type":"<type>" in the line buffer. */
void gen_line_begin(struct gen_state *g, enum model_type t);
/* Appends ,"name":"<JSON string of s>" to the line. */
void gen_line_str(struct gen_state *g, const char *name, const char *s, size_t len);
void gen_line_strz(struct gen_state *g, const char *name, const char *s);
/* Appends ,"name":"<the tmp buffer>" to the line and empties tmp. */
void gen_line_tmp(struct gen_state *g, const char *name);
/* Appends ,"name":"<UTC time>" at a random second of [after, the end of the
 * five years from 2019-01-01T00:00:00Z) and returns that second. */
uint64_t gen_line_time(struct gen_state *g, const char *name, struct gen_rng *r, uint64_t after);
/* Closes the line with its sync and gives it to the loader: 0 or the
 * loader's error, with *msg set as gen_run() documents. */
int gen_line_end(struct gen_state *g, char **msg);

/* ---- gen_records.c: what each line says. ---- */

/* The lines of the four resource types, of every user, group, app and role,
 * and of every entitlement, in that order of calls; seed picks the streams.
 * Each returns 0 or the error of gen_line_end(). */
int gen_records_resource_types(struct gen_state *g, char **msg);
int gen_records_users(struct gen_state *g, uint64_t seed, char **msg);
int gen_records_groups(struct gen_state *g, uint64_t seed, char **msg);
int gen_records_apps(struct gen_state *g, uint64_t seed, char **msg);
int gen_records_roles(struct gen_state *g, uint64_t seed, char **msg);
int gen_records_entitlements(struct gen_state *g, char **msg);
/* The line of the grant of entitlement index ent to a principal (group number
 * or user number), its other fields drawn from fields. */
int gen_records_grant(struct gen_state *g, uint64_t ent, int is_group, uint64_t principal,
                      struct gen_rng *fields, char **msg);

#endif
