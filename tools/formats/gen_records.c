/*
 * gen_records.c - what each line of `syncstore gen` says: the resource types,
 * the users, groups, apps and roles, the entitlements, and one grant, with
 * their ids and display names.  Ids and names are functions of an index only
 * (a grant repeats its entitlement's and resource's ids without remembering
 * them); the other fields are drawn from each kind's own PRNG stream.
 */
#include "gen_i.h"

#include <inttypes.h>
#include <string.h>

/* The entitlement index layout of gen_i.h: [0, G) group member, [G, G+A) app
 * access, [G+A, G+2A) app admin, [G+2A, E) role assigned. */
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

/* ---- Resource types ---- */

int gen_records_resource_types(struct gen_state *g, char **msg)
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
        gen_line_begin(g, MODEL_RESOURCE_TYPE);
        gen_line_strz(g, "id", types[i].id);
        gen_line_strz(g, "display_name", types[i].display);
        buf_adds(&g->line, ",\"traits\":[");
        buf_add_json_string(&g->line, types[i].trait, strlen(types[i].trait));
        buf_addc(&g->line, ']');
        gen_line_strz(g, "description", types[i].description);
        int rc = gen_line_end(g, msg);
        if (rc)
            return rc;
        g->st.resource_types++;
    }
    return 0;
}

/* ---- Resources ---- */

int gen_records_users(struct gen_state *g, uint64_t seed, char **msg)
{
    struct gen_rng r;
    gen_rng_init(&r, seed, STREAM_USERS);
    for (uint64_t i = 0; i < g->z.users; i++) {
        const struct person_name *fn = &first_names[gen_rng_below(&r, COUNT(first_names))];
        const struct person_name *ln = &last_names[gen_rng_below(&r, COUNT(last_names))];
        uint64_t dept = gen_rng_below(&r, COUNT(departments));
        uint64_t title = gen_rng_below(&r, COUNT(titles));
        int disabled = gen_rng_below(&r, 100) < 4;
        int contractor = gen_rng_below(&r, 100) < 12;

        gen_line_begin(g, MODEL_RESOURCE);
        gen_line_strz(g, "resource_type", "user");
        id_user(&g->tmp, i);
        gen_line_tmp(g, "id");
        buf_addf(&g->tmp, "%s %s", fn->display, ln->display);
        gen_line_tmp(g, "display_name");
        buf_addf(&g->tmp, "%s.%s.%" PRIu64 "@example.com", fn->ascii, ln->ascii, i);
        gen_line_tmp(g, "email");
        buf_addf(&g->tmp, "%c%s%" PRIu64, fn->ascii[0], ln->ascii, i);
        gen_line_tmp(g, "login");
        gen_line_strz(g, "status", disabled ? "disabled" : "enabled");
        gen_line_strz(g, "employment_type", contractor ? "contractor" : "employee");
        gen_line_strz(g, "department", departments[dept]);
        gen_line_strz(g, "title", titles[title]);
        buf_addf(&g->tmp, "E%07" PRIu64, i);
        gen_line_tmp(g, "employee_id");
        if (i > 0) {
            id_user(&g->tmp, gen_rng_below(&r, i < 64 ? i : i / 8 + 1));
            gen_line_tmp(g, "manager_id");
        } else {
            buf_adds(&g->line, ",\"manager_id\":null");
        }
        uint64_t created = gen_line_time(g, "created_at", &r, 0);
        if (disabled)
            buf_adds(&g->line, ",\"last_login_at\":null");
        else
            gen_line_time(g, "last_login_at", &r, created);
        int rc = gen_line_end(g, msg);
        if (rc)
            return rc;
        g->st.users++;
        g->st.resources++;
    }
    return 0;
}

int gen_records_groups(struct gen_state *g, uint64_t seed, char **msg)
{
    struct gen_rng r;
    gen_rng_init(&r, seed, STREAM_GROUPS);
    for (uint64_t i = 0; i < g->z.groups; i++) {
        gen_line_begin(g, MODEL_RESOURCE);
        gen_line_strz(g, "resource_type", "group");
        id_group(&g->tmp, i);
        gen_line_tmp(g, "id");
        add_group_name(&g->tmp, i);
        gen_line_tmp(g, "display_name");
        buf_adds(&g->tmp, "Directory group for ");
        add_group_name(&g->tmp, i);
        gen_line_tmp(g, "description");
        gen_line_strz(g, "source", gen_rng_below(&r, 100) < 70 ? "directory" : "manual");
        id_user(&g->tmp, gen_rng_below(&r, g->z.users));
        gen_line_tmp(g, "owner_id");
        gen_line_time(g, "created_at", &r, 0);
        int rc = gen_line_end(g, msg);
        if (rc)
            return rc;
        g->st.groups++;
        g->st.resources++;
    }
    return 0;
}

int gen_records_apps(struct gen_state *g, uint64_t seed, char **msg)
{
    static const char *const sso[] = {"saml", "oidc", "none"};
    struct gen_rng r;
    gen_rng_init(&r, seed, STREAM_APPS);
    for (uint64_t i = 0; i < g->z.apps; i++) {
        gen_line_begin(g, MODEL_RESOURCE);
        gen_line_strz(g, "resource_type", "app");
        id_app(&g->tmp, i);
        gen_line_tmp(g, "id");
        add_cycled_name(&g->tmp, app_names, COUNT(app_names), i);
        gen_line_tmp(g, "display_name");
        gen_line_strz(g, "sso", sso[gen_rng_below(&r, COUNT(sso))]);
        buf_addf(&g->tmp, "https://app-%05" PRIu64 ".example.com/", i);
        gen_line_tmp(g, "url");
        id_user(&g->tmp, gen_rng_below(&r, g->z.users));
        gen_line_tmp(g, "owner_id");
        gen_line_time(g, "created_at", &r, 0);
        int rc = gen_line_end(g, msg);
        if (rc)
            return rc;
        g->st.apps++;
        g->st.resources++;
    }
    return 0;
}

int gen_records_roles(struct gen_state *g, uint64_t seed, char **msg)
{
    static const char *const scopes[] = {"organization", "workspace", "project"};
    struct gen_rng r;
    gen_rng_init(&r, seed, STREAM_ROLES);
    for (uint64_t i = 0; i < g->z.roles; i++) {
        gen_line_begin(g, MODEL_RESOURCE);
        gen_line_strz(g, "resource_type", "role");
        id_role(&g->tmp, i);
        gen_line_tmp(g, "id");
        add_cycled_name(&g->tmp, role_names, COUNT(role_names), i);
        gen_line_tmp(g, "display_name");
        gen_line_strz(g, "scope", scopes[gen_rng_below(&r, COUNT(scopes))]);
        buf_adds(&g->line,
                 gen_rng_below(&r, 100) < 20 ? ",\"privileged\":true" : ",\"privileged\":false");
        gen_line_time(g, "created_at", &r, 0);
        int rc = gen_line_end(g, msg);
        if (rc)
            return rc;
        g->st.roles++;
        g->st.resources++;
    }
    return 0;
}

/* ---- Entitlements ---- */

int gen_records_entitlements(struct gen_state *g, char **msg)
{
    for (uint64_t e = 0; e < g->z.ents; e++) {
        uint64_t res;
        enum ent_kind kind = ent_decode(&g->z, e, &res);
        gen_line_begin(g, MODEL_ENTITLEMENT);
        id_entitlement(&g->tmp, &g->z, e);
        gen_line_tmp(g, "id");
        switch (kind) {
        case ENT_GROUP_MEMBER:
            add_group_name(&g->tmp, res);
            buf_adds(&g->tmp, " Member");
            gen_line_tmp(g, "display_name");
            buf_adds(&g->tmp, "Member of the ");
            add_group_name(&g->tmp, res);
            buf_adds(&g->tmp, " group");
            gen_line_tmp(g, "description");
            gen_line_strz(g, "slug", "member");
            gen_line_strz(g, "purpose", "assignment");
            gen_line_strz(g, "resource_type", "group");
            id_group(&g->tmp, res);
            gen_line_tmp(g, "resource_id");
            buf_adds(&g->line, ",\"grantable_to\":[\"user\"]");
            break;
        case ENT_APP_ACCESS:
        case ENT_APP_ADMIN: {
            const char *slug = kind == ENT_APP_ACCESS ? "access" : "admin";
            add_cycled_name(&g->tmp, app_names, COUNT(app_names), res);
            buf_adds(&g->tmp, kind == ENT_APP_ACCESS ? " Access" : " Admin");
            gen_line_tmp(g, "display_name");
            buf_adds(&g->tmp, kind == ENT_APP_ACCESS ? "Can sign in to " : "Administers ");
            add_cycled_name(&g->tmp, app_names, COUNT(app_names), res);
            gen_line_tmp(g, "description");
            gen_line_strz(g, "slug", slug);
            gen_line_strz(g, "purpose", "permission");
            gen_line_strz(g, "resource_type", "app");
            id_app(&g->tmp, res);
            gen_line_tmp(g, "resource_id");
            buf_adds(&g->line, ",\"grantable_to\":[\"user\",\"group\"]");
            break;
        }
        case ENT_ROLE_ASSIGNED:
            add_cycled_name(&g->tmp, role_names, COUNT(role_names), res);
            buf_adds(&g->tmp, " Assignment");
            gen_line_tmp(g, "display_name");
            buf_adds(&g->tmp, "Holds the role ");
            add_cycled_name(&g->tmp, role_names, COUNT(role_names), res);
            gen_line_tmp(g, "description");
            gen_line_strz(g, "slug", "assigned");
            gen_line_strz(g, "purpose", "assignment");
            gen_line_strz(g, "resource_type", "role");
            id_role(&g->tmp, res);
            gen_line_tmp(g, "resource_id");
            buf_adds(&g->line, ",\"grantable_to\":[\"user\",\"group\"]");
            break;
        }
        int rc = gen_line_end(g, msg);
        if (rc)
            return rc;
        g->st.entitlements++;
    }
    return 0;
}

/* ---- One grant ---- */

int gen_records_grant(struct gen_state *g, uint64_t ent, int is_group, uint64_t principal,
                      struct gen_rng *fields, char **msg)
{
    static const char *const how[] = {"direct", "direct", "direct", "request", "provisioning"};
    uint64_t res;
    enum ent_kind kind = ent_decode(&g->z, ent, &res);

    gen_line_begin(g, MODEL_GRANT);
    /* id: <entitlement id>:<principal type>:<principal id> */
    id_entitlement(&g->tmp, &g->z, ent);
    size_t ent_len = g->tmp.len;
    buf_adds(&g->tmp, is_group ? ":group:" : ":user:");
    if (is_group)
        id_group(&g->tmp, principal);
    else
        id_user(&g->tmp, principal);
    gen_line_str(g, "id", g->tmp.data, g->tmp.len);
    gen_line_str(g, "entitlement", g->tmp.data, ent_len);
    buf_reset(&g->tmp);
    gen_line_strz(g, "principal_type", is_group ? "group" : "user");
    if (is_group)
        id_group(&g->tmp, principal);
    else
        id_user(&g->tmp, principal);
    gen_line_tmp(g, "principal_id");
    switch (kind) {
    case ENT_GROUP_MEMBER:
        gen_line_strz(g, "resource_type", "group");
        id_group(&g->tmp, res);
        break;
    case ENT_APP_ACCESS:
    case ENT_APP_ADMIN:
        gen_line_strz(g, "resource_type", "app");
        id_app(&g->tmp, res);
        break;
    case ENT_ROLE_ASSIGNED:
        gen_line_strz(g, "resource_type", "role");
        id_role(&g->tmp, res);
        break;
    }
    gen_line_tmp(g, "resource_id");
    gen_line_strz(g, "source", how[gen_rng_below(fields, COUNT(how))]);
    gen_line_time(g, "granted_at", fields, 0);
    int rc = gen_line_end(g, msg);
    if (rc)
        return rc;
    g->st.grants++;
    return 0;
}
