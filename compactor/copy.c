/*
 * copy.c - the copy path: the source's own SST files, copied byte for byte,
 * behind one tombstone-only piece.
 *
 * The plan (engine_copy_plan_new) holds only files that lie wholly inside
 * the sync's range, do not overlap each other and sit at global sequence
 * number 0: together they are exactly the source's range.  The ingest holds
 * the tombstone piece [lo, hi) first and the copies after it, in one call:
 * the copies overlap the tombstone's span, so RocksDB gives them later
 * sequence numbers than the tombstone (writing them into the copies, never
 * into the source's files), and the tombstone hides the base's old data but
 * none of the new.  No record is read.
 */
#include "compactor_i.h"

int compactor_copy(engine *base, const engine_copy_plan *plan, const struct compactor_range *r,
                   const struct compactor_options *opt, struct compactor_result *res,
                   engine_ingest **out, char **msg)
{
    int rc = engine_ingest_new(base, out, msg);
    if (rc)
        return rc;
    engine_sst *t = NULL;
    if ((rc = engine_ingest_sst_begin(*out, &t, msg)) ||
        (rc = engine_sst_delete_range(t, r->lo, r->lo_len, r->hi, r->hi_len, msg)) ||
        (rc = engine_sst_finish(t, msg)))
        return rc;
    res->sst_bytes = engine_sst_file_size(t);
    double t0 = compactor_now();
    rc = engine_ingest_add_copies(*out, plan, &res->bytes_copied, msg);
    res->copy_seconds = compactor_now() - t0;
    if (rc)
        return rc;
    struct engine_copy_props sum;
    engine_copy_plan_totals(plan, &sum, NULL);
    res->files_copied = engine_copy_plan_count(plan);
    res->pieces = 1 + res->files_copied;
    res->sst_bytes += res->bytes_copied;
    res->keys = sum.entries - sum.deletions;
    /* raw key sizes count RocksDB's 8-byte internal key footer per entry */
    res->bytes = sum.raw_key_bytes - 8 * sum.entries + sum.raw_value_bytes;
    if (opt && opt->progress && opt->progress(opt->progress_arg, res->keys, res->bytes))
        return ENGINE_ECANCELED;
    return 0;
}
