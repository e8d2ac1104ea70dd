/*
 * c1z3_import.h - importing a baton C1Z3 file (SPEC "import"): the envelope
 * unpacked into a temporary directory (c1z3_envelope.h), its Pebble database
 * read with our own reader (pebble.h), and every live record written through
 * the loader under the same buckets and keys as its v1 twin (c1z.h).
 *
 * A C1Z3 file holds one sync (baton-sdk pkg/dotc1z/engine/pebble: one
 * database per sync); its id comes from the manifest's sync run summary and
 * must agree with the database's sync run record.  Records
 * (`03 <type> 00 <tuple>`, pkg/dotc1z/engine/pebble/keys.go) are read from
 * their values, plain c1.storage.v3 messages (proto/c1/storage/v3/
 * records.proto, refs.proto: the field numbers below are theirs):
 *
 *     01 ResourceTypeRecord  2 external_id, 6 discovered_at
 *     02 ResourceRecord      2 resource_type_id, 3 resource_id,
 *                            6 parent {1 resource_type_id, 2 resource_id},
 *                            8 discovered_at
 *     03 EntitlementRecord   2 external_id, 3 resource {1, 2}, 8 discovered_at
 *     04 GrantRecord         2 external_id, 3 entitlement {1 resource_type_id,
 *                            2 resource_id, 3 entitlement_id},
 *                            4 principal {1, 2}, 5 discovered_at
 *     05 AssetRecord         1 sync_id, 2 external_id, 3 content_type,
 *                            5 discovered_at
 *     06 SyncRunRecord       1 sync_id, 2 type, 3 parent_sync_id,
 *                            4 started_at, 5 ended_at, 6 sync_token
 *     09 SessionRecord       1 sync_id, 2 key, 3 value
 *
 * Each becomes the JSON object of its v1 row: "type", the identifying fields
 * under the v1 column names (a resource's external_id is
 * "<resource_type_id>:<resource_id>"; a grant without an external_id gets
 * baton's "<entitlement_id>:<principal type>:<principal id>"), "data_b64"
 * (the record's exact bytes), "sync_id", and the timestamps in RFC 3339 (v1
 * files hold SQLite's text instead).  The derived keyspaces (07 indexes,
 * 08 counters, 0A digests) are skipped: the store builds its own indexes.
 * The engine metadata (FF) must say keyspace_version 2.  Any other record
 * type, a key outside the 03 keyspace, or a value that does not parse is
 * refused by name; nothing is written then.
 */
#ifndef SYNCSTORE_C1Z3_IMPORT_H
#define SYNCSTORE_C1Z3_IMPORT_H

#include "c1z.h"

/* As c1z_import(), for a file that starts with "C1Z3\0".  Errors (a message
 * naming the file): those of c1z3_unpack() and pebble_open(); -EINVAL a
 * record that does not parse or an unknown record type; -ENOTSUP a file whose
 * manifest names no sync run or more than one, or another keyspace version;
 * -ENOENT a named sync_id not in the file; the loader's. */
int c1z3_import(engine *e, const char *path, const char *const *sync_ids, size_t n_sync_ids,
                const struct c1z_progress *progress, struct c1z_stats *stats, char **msg);

#endif
