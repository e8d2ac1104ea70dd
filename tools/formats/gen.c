/*
 * gen.c - the synthetic sync of `syncstore gen`: users, groups, apps and roles,
 * their entitlements, and exactly N grants with Zipf-skewed popularity, written
 * as typed JSON lines through jsonl_add_line(), the same path as typed `load`.
 *
 * Everything is streamed: one line is built in a reused buffer, handed to the
 * loader and forgotten.  The only tables are per entitlement (the popularity
 * order, two Zipf CDFs and a "drawn by this principal" stamp), so memory does
 * not grow with N beyond what the loader itself uses.  Randomness comes from
 * xoshiro256** seeded by splitmix64 from the seed, one independent stream per
 * kind of thing, so the same options give the same bytes on every machine
 * (names and counts are computed with integers; the only floating point is the
 * Zipf CDF and share arithmetic, which is IEEE-deterministic).
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
#include <time.h>

#include "buf.h"
#include "jsonl.h"
#include "model.h"

#define GEN_ZIPF_S 1.1
#define GEN_MAX_REJECTS 32
/* Share of the grants that go to groups as principals. */
#define GEN_GROUP_SHARE 0.1
/* Timestamps fall in the five years from 2019-01-01T00:00:00Z. */
#define GEN_EPOCH 1546300800ULL
#define GEN_SPAN (5ULL * 365 * 24 * 3600)

/* ---- PRNG: splitmix64 seeding xoshiro256**. ---- */

struct gen_rng {
    uint64_t s[4];
};

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Streams with different numbers are independent sequences of one seed. */
static void rng_init(struct gen_rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ (stream * 0xD1B54A32D192ED03ULL);
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(struct gen_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Uniform in [0, n); n > 0. */
static uint64_t rng_below(struct gen_rng *r, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)rng_next(r) * n) >> 64);
}

/* Uniform in [0, 1). */
static double rng_double(struct gen_rng *r)
{
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

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

/* ---- Sizes ---- */

struct gen_sizes {
    uint64_t users, groups, apps, roles;
    uint64_t ents;     /* all entitlements: groups + 2 apps + roles */
    uint64_t ents_sub; /* those groups may hold: 2 apps + roles */
    uint64_t user_cap, group_cap;
};

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

/* Entitlement index layout: [0, G) group member, [G, G+A) app access,
 * [G+A, G+2A) app admin, [G+2A, E) role assigned. */
enum ent_kind { ENT_GROUP_MEMBER, ENT_APP_ACCESS, ENT_APP_ADMIN, ENT_ROLE_ASSIGNED };

static enum ent_kind ent_decode(const struct gen_sizes *z, uint64_t idx, uint64_t *res)
{
    if (idx < z->groups) {
        *res = idx;
        return ENT_GROUP_MEMBER;
    }
    idx -= z->groups;
    if (idx < z->apps) {
        *res = idx;
        return ENT_APP_ACCESS;
    }
    idx -= z->apps;
    if (idx < z->apps) {
        *res = idx;
        return ENT_APP_ADMIN;
    }
    *res = idx - z->apps;
    return ENT_ROLE_ASSIGNED;
}

/* ---- Names: functions of the index only, so entitlements can repeat them. ---- */

struct person_name {
    const char *display; /* UTF-8 */
    const char *ascii;   /* for logins and email addresses */
};

static const struct person_name first_names[] = {
    {"Ada", "ada"},
    {"Alan", "alan"},
    {"Grace", "grace"},
    {"Linus", "linus"},
    {"Margaret", "margaret"},
    {"Dennis", "dennis"},
    {"Barbara", "barbara"},
    {"Ken", "ken"},
    {"Frances", "frances"},
    {"John", "john"},
    {"Radia", "radia"},
    {"Edsger", "edsger"},
    {"Hedy", "hedy"},
    {"Donald", "donald"},
    {"Sophie", "sophie"},
    {"Tim", "tim"},
    {"Katherine", "katherine"},
    {"Guido", "guido"},
    {"Lynn", "lynn"},
    {"Bjarne", "bjarne"},
    {"José", "jose"},
    {"Zoë", "zoe"},
    {"Björn", "bjorn"},
    {"Søren", "soren"},
    {"Chloé", "chloe"},
    {"Mateo", "mateo"},
    {"Aiko", "aiko"},
    {"Priya", "priya"},
    {"Wei", "wei"},
    {"Fatima", "fatima"},
    {"Olusegun", "olusegun"},
    {"Ingrid", "ingrid"},
};

static const struct person_name last_names[] = {
    {"Lovelace", "lovelace"},     {"Turing", "turing"},
    {"Hopper", "hopper"},         {"Torvalds", "torvalds"},
    {"Hamilton", "hamilton"},     {"Ritchie", "ritchie"},
    {"Liskov", "liskov"},         {"Thompson", "thompson"},
    {"Allen", "allen"},           {"McCarthy", "mccarthy"},
    {"Perlman", "perlman"},       {"Dijkstra", "dijkstra"},
    {"Lamarr", "lamarr"},         {"Knuth", "knuth"},
    {"Wilson", "wilson"},         {"Berners-Lee", "berners-lee"},
    {"Johnson", "johnson"},       {"van Rossum", "vanrossum"},
    {"Conway", "conway"},         {"Stroustrup", "stroustrup"},
    {"García", "garcia"},         {"Müller", "muller"},
    {"Østergaard", "ostergaard"}, {"Nakamura", "nakamura"},
    {"Patel", "patel"},           {"Chen", "chen"},
    {"Okafor", "okafor"},         {"Haddad", "haddad"},
    {"Kowalski", "kowalski"},     {"Novak", "novak"},
};

static const char *const departments[] = {
    "Engineering", "Sales",    "Marketing", "Finance",    "Legal",      "Support",
    "Product",     "Design",   "Security",  "IT",         "Operations", "People",
    "Research",    "Platform", "Data",      "Facilities",
};

static const char *const titles[] = {
    "Engineer", "Senior Engineer", "Staff Engineer", "Manager",   "Director",
    "Analyst",  "Specialist",      "Coordinator",    "Associate", "Vice President",
};

static const char *const app_names[] = {
    "Salesforce", "GitHub", "Slack",    "Okta",       "AWS",     "Google Workspace",
    "Jira",       "Zoom",   "Workday",  "Snowflake",  "Datadog", "PagerDuty",
    "Confluence", "Figma",  "Notion",   "Zendesk",    "HubSpot", "Tableau",
    "Box",        "Asana",  "Netsuite", "Greenhouse", "Looker",  "1Password",
};

static const char *const role_names[] = {
    "Administrator", "Billing Admin", "Auditor",         "Read Only",
    "Support Agent", "Developer",     "Release Manager", "Security Analyst",
    "Data Steward",  "Help Desk",     "Owner",           "Operator",
};

static const char *const group_kinds[] = {"Team",    "All",         "Leads",
                                          "On-call", "Contractors", "Admins"};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* "<base>" for the first round of a name list, "<base> <round+1>" after. */
static void add_cycled_name(struct buf *b, const char *const *list, size_t n, uint64_t idx)
{
    buf_adds(b, list[idx % n]);
    if (idx >= n)
        buf_addf(b, " %" PRIu64, idx / n + 1);
}

static void add_group_name(struct buf *b, uint64_t idx)
{
    size_t nd = COUNT(departments), nk = COUNT(group_kinds);
    buf_adds(b, departments[idx % nd]);
    buf_addc(b, ' ');
    buf_adds(b, group_kinds[(idx / nd) % nk]);
    if (idx >= nd * nk)
        buf_addf(b, " %" PRIu64, idx / (nd * nk) + 1);
}

static void id_user(struct buf *b, uint64_t i)
{
    buf_addf(b, "user-%07" PRIu64, i);
}
static void id_group(struct buf *b, uint64_t i)
{
    buf_addf(b, "group-%06" PRIu64, i);
}
static void id_app(struct buf *b, uint64_t i)
{
    buf_addf(b, "app-%05" PRIu64, i);
}
static void id_role(struct buf *b, uint64_t i)
{
    buf_addf(b, "role-%05" PRIu64, i);
}

/* The entitlement id of index idx, e.g. "app:app-00003:admin". */
static void id_entitlement(struct buf *b, const struct gen_sizes *z, uint64_t idx)
{
    uint64_t res;
    switch (ent_decode(z, idx, &res)) {
    case ENT_GROUP_MEMBER:
        buf_adds(b, "group:");
        id_group(b, res);
        buf_adds(b, ":member");
        break;
    case ENT_APP_ACCESS:
        buf_adds(b, "app:");
        id_app(b, res);
        buf_adds(b, ":access");
        break;
    case ENT_APP_ADMIN:
        buf_adds(b, "app:");
        id_app(b, res);
        buf_adds(b, ":admin");
        break;
    case ENT_ROLE_ASSIGNED:
        buf_adds(b, "role:");
        id_role(b, res);
        buf_adds(b, ":assigned");
        break;
    }
}

/* ---- Line building ---- */

struct gen_state {
    loader *l;
    struct gen_sizes z;
    struct buf line;
    struct buf tmp;
    struct buf tail; /* ,"sync":"<sync_id>"} */
    struct gen_stats st;
};

/* Appends ,"name":"<JSON string of s>". */
static void add_str(struct buf *b, const char *name, const char *s, size_t len)
{
    buf_addc(b, ',');
    buf_add_json_string(b, name, strlen(name));
    buf_addc(b, ':');
    buf_add_json_string(b, s, len);
}

static void add_strz(struct buf *b, const char *name, const char *s)
{
    add_str(b, name, s, strlen(s));
}

/* Appends ,"name":"<the tmp buffer>" and empties tmp. */
static void add_tmp(struct gen_state *g, const char *name)
{
    add_str(&g->line, name, g->tmp.data, g->tmp.len);
    buf_reset(&g->tmp);
}

/* Appends ,"name":"<UTC time>" at a random second of [after, GEN_EPOCH +
 * GEN_SPAN) and returns that second. */
static uint64_t add_time(struct buf *b, const char *name, struct gen_rng *r, uint64_t after)
{
    if (after < GEN_EPOCH)
        after = GEN_EPOCH;
    uint64_t secs = after + rng_below(r, GEN_EPOCH + GEN_SPAN - after);
    time_t t = (time_t)secs;
    struct tm tm;
    char text[32];
    gmtime_r(&t, &tm);
    size_t n = strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm);
    add_str(b, name, text, n);
    return secs;
}

/* Starts {"type":"<type>" in the line buffer. */
static void line_begin(struct gen_state *g, enum model_type t)
{
    const char *type = model_type_name(t);
    buf_reset(&g->line);
    buf_adds(&g->line, "{\"type\":");
    buf_add_json_string(&g->line, type, strlen(type));
}

/* Closes the line with its sync and gives it to the loader. */
static int line_end(struct gen_state *g, char **msg)
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

/* ---- Resource types ---- */

static int gen_resource_types(struct gen_state *g, char **msg)
{
    static const struct {
        const char *id, *display, *trait, *description;
    } types[] = {
        {"user", "User", "TRAIT_USER", "A person with an account"},
        {"group", "Group", "TRAIT_GROUP", "A set of users with shared access"},
        {"app", "Application", "TRAIT_APP", "An application users and groups sign in to"},
        {"role", "Role", "TRAIT_ROLE", "A named set of permissions"},
    };
    for (size_t i = 0; i < COUNT(types); i++) {
        line_begin(g, MODEL_RESOURCE_TYPE);
        add_strz(&g->line, "id", types[i].id);
        add_strz(&g->line, "display_name", types[i].display);
        buf_adds(&g->line, ",\"traits\":[");
        buf_add_json_string(&g->line, types[i].trait, strlen(types[i].trait));
        buf_addc(&g->line, ']');
        add_strz(&g->line, "description", types[i].description);
        int rc = line_end(g, msg);
        if (rc)
            return rc;
        g->st.resource_types++;
    }
    return 0;
}

/* ---- Resources ---- */

static int gen_users(struct gen_state *g, uint64_t seed, char **msg)
{
    struct gen_rng r;
    rng_init(&r, seed, STREAM_USERS);
    for (uint64_t i = 0; i < g->z.users; i++) {
        const struct person_name *fn = &first_names[rng_below(&r, COUNT(first_names))];
        const struct person_name *ln = &last_names[rng_below(&r, COUNT(last_names))];
        uint64_t dept = rng_below(&r, COUNT(departments));
        uint64_t title = rng_below(&r, COUNT(titles));
        int disabled = rng_below(&r, 100) < 4;
        int contractor = rng_below(&r, 100) < 12;

        line_begin(g, MODEL_RESOURCE);
        add_strz(&g->line, "resource_type", "user");
        id_user(&g->tmp, i);
        add_tmp(g, "id");
        buf_addf(&g->tmp, "%s %s", fn->display, ln->display);
        add_tmp(g, "display_name");
        buf_addf(&g->tmp, "%s.%s.%" PRIu64 "@example.com", fn->ascii, ln->ascii, i);
        add_tmp(g, "email");
        buf_addf(&g->tmp, "%c%s%" PRIu64, fn->ascii[0], ln->ascii, i);
        add_tmp(g, "login");
        add_strz(&g->line, "status", disabled ? "disabled" : "enabled");
        add_strz(&g->line, "employment_type", contractor ? "contractor" : "employee");
        add_strz(&g->line, "department", departments[dept]);
        add_strz(&g->line, "title", titles[title]);
        buf_addf(&g->tmp, "E%07" PRIu64, i);
        add_tmp(g, "employee_id");
        if (i > 0) {
            id_user(&g->tmp, rng_below(&r, i < 64 ? i : i / 8 + 1));
            add_tmp(g, "manager_id");
        } else {
            buf_adds(&g->line, ",\"manager_id\":null");
        }
        uint64_t created = add_time(&g->line, "created_at", &r, 0);
        if (disabled)
            buf_adds(&g->line, ",\"last_login_at\":null");
        else
            add_time(&g->line, "last_login_at", &r, created);
        int rc = line_end(g, msg);
        if (rc)
            return rc;
        g->st.users++;
        g->st.resources++;
    }
    return 0;
}

static int gen_groups(struct gen_state *g, uint64_t seed, char **msg)
{
    struct gen_rng r;
    rng_init(&r, seed, STREAM_GROUPS);
    for (uint64_t i = 0; i < g->z.groups; i++) {
        line_begin(g, MODEL_RESOURCE);
        add_strz(&g->line, "resource_type", "group");
        id_group(&g->tmp, i);
        add_tmp(g, "id");
        add_group_name(&g->tmp, i);
        add_tmp(g, "display_name");
        buf_adds(&g->tmp, "Directory group for ");
        add_group_name(&g->tmp, i);
        add_tmp(g, "description");
        add_strz(&g->line, "source", rng_below(&r, 100) < 70 ? "directory" : "manual");
        id_user(&g->tmp, rng_below(&r, g->z.users));
        add_tmp(g, "owner_id");
        add_time(&g->line, "created_at", &r, 0);
        int rc = line_end(g, msg);
        if (rc)
            return rc;
        g->st.groups++;
        g->st.resources++;
    }
    return 0;
}

static int gen_apps(struct gen_state *g, uint64_t seed, char **msg)
{
    static const char *const sso[] = {"saml", "oidc", "none"};
    struct gen_rng r;
    rng_init(&r, seed, STREAM_APPS);
    for (uint64_t i = 0; i < g->z.apps; i++) {
        line_begin(g, MODEL_RESOURCE);
        add_strz(&g->line, "resource_type", "app");
        id_app(&g->tmp, i);
        add_tmp(g, "id");
        add_cycled_name(&g->tmp, app_names, COUNT(app_names), i);
        add_tmp(g, "display_name");
        add_strz(&g->line, "sso", sso[rng_below(&r, COUNT(sso))]);
        buf_addf(&g->tmp, "https://app-%05" PRIu64 ".example.com/", i);
        add_tmp(g, "url");
        id_user(&g->tmp, rng_below(&r, g->z.users));
        add_tmp(g, "owner_id");
        add_time(&g->line, "created_at", &r, 0);
        int rc = line_end(g, msg);
        if (rc)
            return rc;
        g->st.apps++;
        g->st.resources++;
    }
    return 0;
}

static int gen_roles(struct gen_state *g, uint64_t seed, char **msg)
{
    static const char *const scopes[] = {"organization", "workspace", "project"};
    struct gen_rng r;
    rng_init(&r, seed, STREAM_ROLES);
    for (uint64_t i = 0; i < g->z.roles; i++) {
        line_begin(g, MODEL_RESOURCE);
        add_strz(&g->line, "resource_type", "role");
        id_role(&g->tmp, i);
        add_tmp(g, "id");
        add_cycled_name(&g->tmp, role_names, COUNT(role_names), i);
        add_tmp(g, "display_name");
        add_strz(&g->line, "scope", scopes[rng_below(&r, COUNT(scopes))]);
        buf_adds(&g->line,
                 rng_below(&r, 100) < 20 ? ",\"privileged\":true" : ",\"privileged\":false");
        add_time(&g->line, "created_at", &r, 0);
        int rc = line_end(g, msg);
        if (rc)
            return rc;
        g->st.roles++;
        g->st.resources++;
    }
    return 0;
}

/* ---- Entitlements ---- */

static int gen_entitlements(struct gen_state *g, char **msg)
{
    for (uint64_t e = 0; e < g->z.ents; e++) {
        uint64_t res;
        enum ent_kind kind = ent_decode(&g->z, e, &res);
        line_begin(g, MODEL_ENTITLEMENT);
        id_entitlement(&g->tmp, &g->z, e);
        add_tmp(g, "id");
        switch (kind) {
        case ENT_GROUP_MEMBER:
            add_group_name(&g->tmp, res);
            buf_adds(&g->tmp, " Member");
            add_tmp(g, "display_name");
            buf_adds(&g->tmp, "Member of the ");
            add_group_name(&g->tmp, res);
            buf_adds(&g->tmp, " group");
            add_tmp(g, "description");
            add_strz(&g->line, "slug", "member");
            add_strz(&g->line, "purpose", "assignment");
            add_strz(&g->line, "resource_type", "group");
            id_group(&g->tmp, res);
            add_tmp(g, "resource_id");
            buf_adds(&g->line, ",\"grantable_to\":[\"user\"]");
            break;
        case ENT_APP_ACCESS:
        case ENT_APP_ADMIN: {
            const char *slug = kind == ENT_APP_ACCESS ? "access" : "admin";
            add_cycled_name(&g->tmp, app_names, COUNT(app_names), res);
            buf_adds(&g->tmp, kind == ENT_APP_ACCESS ? " Access" : " Admin");
            add_tmp(g, "display_name");
            buf_adds(&g->tmp, kind == ENT_APP_ACCESS ? "Can sign in to " : "Administers ");
            add_cycled_name(&g->tmp, app_names, COUNT(app_names), res);
            add_tmp(g, "description");
            add_strz(&g->line, "slug", slug);
            add_strz(&g->line, "purpose", "permission");
            add_strz(&g->line, "resource_type", "app");
            id_app(&g->tmp, res);
            add_tmp(g, "resource_id");
            buf_adds(&g->line, ",\"grantable_to\":[\"user\",\"group\"]");
            break;
        }
        case ENT_ROLE_ASSIGNED:
            add_cycled_name(&g->tmp, role_names, COUNT(role_names), res);
            buf_adds(&g->tmp, " Assignment");
            add_tmp(g, "display_name");
            buf_adds(&g->tmp, "Holds the role ");
            add_cycled_name(&g->tmp, role_names, COUNT(role_names), res);
            add_tmp(g, "description");
            add_strz(&g->line, "slug", "assigned");
            add_strz(&g->line, "purpose", "assignment");
            add_strz(&g->line, "resource_type", "role");
            id_role(&g->tmp, res);
            add_tmp(g, "resource_id");
            buf_adds(&g->line, ",\"grantable_to\":[\"user\",\"group\"]");
            break;
        }
        int rc = line_end(g, msg);
        if (rc)
            return rc;
        g->st.entitlements++;
    }
    return 0;
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
        rank = zipf_rank(zp, rng_double(r));
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

static int gen_one_grant(struct gen_state *g, uint64_t ent, int is_group, uint64_t principal,
                         struct gen_rng *fields, char **msg)
{
    static const char *const how[] = {"direct", "direct", "direct", "request", "provisioning"};
    uint64_t res;
    enum ent_kind kind = ent_decode(&g->z, ent, &res);

    line_begin(g, MODEL_GRANT);
    /* id: <entitlement id>:<principal type>:<principal id> */
    id_entitlement(&g->tmp, &g->z, ent);
    size_t ent_len = g->tmp.len;
    buf_adds(&g->tmp, is_group ? ":group:" : ":user:");
    if (is_group)
        id_group(&g->tmp, principal);
    else
        id_user(&g->tmp, principal);
    add_str(&g->line, "id", g->tmp.data, g->tmp.len);
    add_str(&g->line, "entitlement", g->tmp.data, ent_len);
    buf_reset(&g->tmp);
    add_strz(&g->line, "principal_type", is_group ? "group" : "user");
    if (is_group)
        id_group(&g->tmp, principal);
    else
        id_user(&g->tmp, principal);
    add_tmp(g, "principal_id");
    switch (kind) {
    case ENT_GROUP_MEMBER:
        add_strz(&g->line, "resource_type", "group");
        id_group(&g->tmp, res);
        break;
    case ENT_APP_ACCESS:
    case ENT_APP_ADMIN:
        add_strz(&g->line, "resource_type", "app");
        id_app(&g->tmp, res);
        break;
    case ENT_ROLE_ASSIGNED:
        add_strz(&g->line, "resource_type", "role");
        id_role(&g->tmp, res);
        break;
    }
    add_tmp(g, "resource_id");
    add_strz(&g->line, "source", how[rng_below(fields, COUNT(how))]);
    add_time(&g->line, "granted_at", fields, 0);
    int rc = line_end(g, msg);
    if (rc)
        return rc;
    g->st.grants++;
    return 0;
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
    rng_init(&r, seed, STREAM_POPULARITY);
    for (uint32_t k = all.n - 1; k > 0; k--) {
        uint32_t j = (uint32_t)rng_below(&r, (uint64_t)k + 1);
        uint32_t t = all.order[k];
        all.order[k] = all.order[j];
        all.order[j] = t;
    }
    for (uint32_t k = 0, m = 0; k < all.n; k++)
        if (all.order[k] >= z->groups)
            sub.order[m++] = all.order[k];

    struct gen_rng shares, draws, fields;
    rng_init(&shares, seed, STREAM_SHARES);
    rng_init(&draws, seed, STREAM_DRAWS);
    rng_init(&fields, seed, STREAM_GRANT_FIELDS);

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
        double f = 0.5 + 0.5 * -log1p(-rng_double(&shares));
        double want = floor(mean * f + rng_double(&shares));
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
            if ((rc = gen_one_grant(g, ent, is_group, who, &fields, msg)))
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
    buf_init(&g.line);
    buf_init(&g.tmp);
    buf_init(&g.tail);
    add_strz(&g.tail, "sync", opt->sync_id);
    buf_addc(&g.tail, '}');

    if ((rc = loader_name_sync(l, opt->sync_id, msg)))
        goto err;
    if ((rc = gen_resource_types(&g, msg)))
        goto err;
    if ((rc = gen_users(&g, opt->seed, msg)) || (rc = gen_groups(&g, opt->seed, msg)) ||
        (rc = gen_apps(&g, opt->seed, msg)) || (rc = gen_roles(&g, opt->seed, msg)))
        goto err;
    if ((rc = gen_entitlements(&g, msg)))
        goto err;
    if ((rc = gen_grants(&g, opt->grants, opt->seed, msg)))
        goto err;
    if (stats)
        *stats = g.st;
err:
    buf_release(&g.line);
    buf_release(&g.tmp);
    buf_release(&g.tail);
    return rc;
}
