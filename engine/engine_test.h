/*
 * engine_test.h - hooks for tests and benchmarks only (engine/hooks.c): pause
 * points around an ingest, and the put-loop baseline the bench measures bulk
 * ingest against.  Product code calls engine_test_pause() at its named points
 * and nothing else from here.
 */
#ifndef SYNCSTORE_ENGINE_TEST_H
#define SYNCSTORE_ENGINE_TEST_H

#include <stdint.h>

#include "engine.h"

/* ---- Pause points, for crash, cancel and fault tests ----
 *
 * When the environment variable SYNCSTORE_TEST_PAUSE_INGEST is
 * "MS_BEFORE,MS_AFTER[,MS_STREAM[,MS_COPY]]", engine_test_pause(0) sleeps
 * MS_BEFORE milliseconds, engine_test_pause(1) MS_AFTER, engine_test_pause(2)
 * MS_STREAM and engine_test_pause(3) MS_COPY.  engine_ingest_commit calls (1)
 * right after the ingest call; engine_ingest_add_copies calls (3) once, after
 * the first chunk of its first file is copied (a copy half done);
 * callers call (0) right before their last cancellation check before the
 * commit, and the compactor calls (2) once while streaming, right after its
 * first progress report.  Unset, they return at once. */
#define ENGINE_PAUSE_ENV "SYNCSTORE_TEST_PAUSE_INGEST"
void engine_test_pause(int which);

/* ---- The baseline that bulk ingest is measured against (benchmarks only) ----
 *
 * Replaces sync_id in e with the records of `source` the only other atomic
 * way RocksDB offers: one WriteBatch holding a DeleteRange over the sync and a
 * Put for every record the iterator yields (from its current position). */
int engine_replace_with_batch(engine *e, const char *sync_id, engine_iter *source, uint64_t *keys,
                              char **msg);

#endif
