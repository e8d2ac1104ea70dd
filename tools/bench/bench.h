/*
 * bench.h - `syncstore bench compact`: the compactor against the other ways of
 * replacing a sync (a WriteBatch put-loop, SQLite as the baton SDK does it,
 * and the floor of reading and writing the bytes once), on generated data.
 */
#ifndef SYNCSTORE_BENCH_H
#define SYNCSTORE_BENCH_H

/* Runs the benchmark with `grants` grants per sync in a new work directory
 * under dir (NULL: $TMPDIR unless it is a tmpfs, else /var/tmp), kept when
 * keep is set, and prints the report (one JSON object when json is set).
 * Returns the exit status: 0 it ran (missed targets are reported, not
 * failures), 1 a phase failed, 2 the directory is unusable, 130 interrupted. */
int bench_compact(unsigned long long grants, const char *dir, int keep, int json);

#endif
