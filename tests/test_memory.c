/*
 * test_memory.c - SPEC, compaction: "memory bounded whatever the sync's size".
 *
 * Two sources hold the same sync at two sizes, the large one ten times the
 * small one's grants.  `syncstore compact` runs in its own process, streamed
 * on one thread and by the copy path, from each; the process's peak resident
 * set (wait4) may grow from the small source to the large one by at most
 * GROWTH_MAX, while the sync's bytes grow by more than three times that
 * (9 MB to 91 MB): a compaction that held the sync, or any part of it that
 * grows with it (its keys, a Put batch, its values), would fail.  The bound
 * leaves room for what does grow a little with a file's size (the tables'
 * index blocks).  Measured here: stream +10.8 MB, copy +3.1 MB; a `load` of
 * the same two syncs, which holds up to a 64 MiB chunk, grows by 67 MB and
 * would fail it; a stream of a 600,000-grant sync (314 MB) peaks at 46 MB.
 * ASan's quarantine is off in the measured process (tu_syncstore_rss).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "testutil.h"

#define SMALL_GRANTS "20000"
#define LARGE_GRANTS "200000"
#define GROWTH_MAX (24L * 1024) /* KB */

/* The sync's bytes (keys and values) in a store, from `syncs --json`. */
static long long sync_bytes(const char *store, const char *sync)
{
    char *out = NULL;
    assert_int_equal(tu_syncstore(&out, "syncs", store, "--json", NULL), 0);
    json_error_t err;
    json_t *all = json_loads(out, 0, &err);
    if (!all)
        fail_msg("syncs --json: %s: %s", err.text, out);
    long long bytes = -1;
    size_t i;
    json_t *s;
    json_array_foreach(all, i, s)
    {
        if (!strcmp(json_string_value(json_object_get(s, "sync_id")), sync))
            bytes = json_integer_value(json_object_get(s, "bytes"));
    }
    json_decref(all);
    free(out);
    assert_true(bytes > 0);
    return bytes;
}

/* Peak RSS (KB) of one compaction of sync s from src into base, checking
 * that it took the method asked for. */
static long compact_rss(const char *base, const char *src, int stream)
{
    long rss = 0;
    char *out = NULL;
    int rc = stream ? tu_syncstore_rss(&rss, &out, "compact", base, src, "s", "--json", "--stream",
                                       "--threads", "1", NULL)
                    : tu_syncstore_rss(&rss, &out, "compact", base, src, "s", "--json", NULL);
    if (rc)
        fail_msg("compact exited %d: %s", rc, out);
    const char *want = stream ? "\"method\":\"stream\"" : "\"method\":\"copy\"";
    if (!strstr(out, want))
        fail_msg("compact did not report %s: %s", want, out);
    free(out);
    return rss;
}

static void test_compaction_memory_bounded(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    char *base = tu_join(dir, "base"), *small = tu_join(dir, "small"),
         *large = tu_join(dir, "large");
    assert_int_equal(tu_syncstore(NULL, "gen", base, "other", "--grants", "100", NULL), 0);
    assert_int_equal(tu_syncstore(NULL, "gen", small, "s", "--grants", SMALL_GRANTS, NULL), 0);
    assert_int_equal(tu_syncstore(NULL, "gen", large, "s", "--grants", LARGE_GRANTS, NULL), 0);
    long long bs = sync_bytes(small, "s"), bl = sync_bytes(large, "s");
    /* the bound means something only if the sync grows by far more */
    if ((bl - bs) / 1024 < 3 * GROWTH_MAX)
        fail_msg("the syncs differ by %lld KB: too little for a bound of %ld KB", (bl - bs) / 1024,
                 GROWTH_MAX);

    for (int stream = 1; stream >= 0; stream--) {
        /* each from the same base state: the sync absent or the small copy */
        long rs = compact_rss(base, small, stream);
        long rl = compact_rss(base, large, stream);
        long rs2 = compact_rss(base, small, stream);
        long low = rs < rs2 ? rs : rs2;
        print_message("    %s: peak RSS %ld KB (%lld KB sync), %ld KB (%lld KB sync): +%ld KB\n",
                      stream ? "stream" : "copy", low, bs / 1024, rl, bl / 1024, rl - low);
        if (rl - low > GROWTH_MAX)
            fail_msg("%s: peak RSS grew by %ld KB for %lld KB more of the sync (bound %ld KB)",
                     stream ? "stream" : "copy", rl - low, (bl - bs) / 1024, GROWTH_MAX);
    }
    free(base);
    free(small);
    free(large);
    tu_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compaction_memory_bounded),
    };
    return tu_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
