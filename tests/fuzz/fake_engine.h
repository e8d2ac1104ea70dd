/*
 * fake_engine.h - an in-memory stand-in for the write side of engine/ (ingest,
 * SST files, sync times), so that the fuzzers run the real loader and the real
 * c1z import without RocksDB.  See fake_engine.c for what it checks.
 */
#ifndef SYNCSTORE_FAKE_ENGINE_H
#define SYNCSTORE_FAKE_ENGINE_H

#include <stddef.h>

#include "engine.h"

/* An empty store; free it with fake_engine_free(). */
engine *fake_engine_new(void);
void fake_engine_free(engine *e);

/* Writes one record directly (no ingest): for setting up a store's contents. */
void fake_engine_put(engine *e, const void *disk_key, size_t key_len, const void *value,
                     size_t value_len);

/* The store's records in key order: the i-th one's key and value (borrowed
 * until the store changes). */
size_t fake_engine_count(const engine *e);
void fake_engine_record(const engine *e, size_t i, const char **key, size_t *key_len,
                        const char **value, size_t *value_len);

/* Ingests committed since fake_engine_new(). */
size_t fake_engine_commits(const engine *e);

#endif
