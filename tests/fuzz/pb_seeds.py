#!/usr/bin/env python3
"""Seeds for fuzz_pb, made at run time from the shared samples (which are not
copied into the project): a few records' protobuf blobs from the v1 sample's
tables, each behind the byte that picks its message type (tests/fuzz/
fuzz_pb.c), and the C1Z3 sample's descriptor set (its manifest's field 10)
in front of a record.  The v1 file is "C1ZF\\0" and one zstd stream of a
SQLite database, decompressed with the zstd CLI.

usage: pb_seeds.py V1_SAMPLE C1Z3_SAMPLE OUT_DIR MAX_LEN"""
import os
import sqlite3
import struct
import subprocess
import sys
import tempfile


def varint(b, i):
    r = s = 0
    while True:
        c = b[i]
        i += 1
        r |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return r, i


def field(b, number):
    """The bytes of the last length-delimited field `number` of a message."""
    i, found = 0, None
    while i < len(b):
        tag, i = varint(b, i)
        wt = tag & 7
        if wt == 0:
            _, i = varint(b, i)
        elif wt == 1:
            i += 8
        elif wt == 5:
            i += 4
        elif wt == 2:
            n, i = varint(b, i)
            if tag >> 3 == number:
                found = b[i:i + n]
            i += n
        else:
            raise ValueError("wire type %d" % wt)
    return found


def main():
    v1, c1z3, out, max_len = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    os.makedirs(out, exist_ok=True)
    with open(v1, "rb") as f:
        body = f.read()[5:]
    blobs = []
    with tempfile.NamedTemporaryFile(suffix=".db") as db:
        db.write(subprocess.run(["zstd", "-dcq"], input=body, stdout=subprocess.PIPE,
                                check=True).stdout)
        db.flush()
        con = sqlite3.connect(db.name)
        # type index in fuzz_pb.c's `types`, table
        for idx, table in ((0, "v1_resource_types"), (1, "v1_resources"),
                           (2, "v1_entitlements"), (3, "v1_grants")):
            for (data,) in con.execute(f"SELECT data FROM {table} LIMIT 6"):
                blobs.append((idx, bytes(data)))
        con.close()
    n = 0
    for idx, data in blobs:
        seed = bytes([idx, 0]) + data
        if len(seed) <= max_len:
            with open(os.path.join(out, "%d-v1-%d" % (idx, n)), "wb") as f:
                f.write(seed)
            n += 1
    with open(c1z3, "rb") as f:
        head = f.read(9)
        manifest = f.read(struct.unpack(">I", head[5:9])[0])
    desc = field(manifest, 10)
    if desc and len(desc) < 65536:
        for idx, data in blobs[:3]:
            seed = bytes([7, 1]) + struct.pack(">H", len(desc)) + desc + data
            if len(seed) <= max_len:
                with open(os.path.join(out, "7-desc-%d" % n), "wb") as f:
                    f.write(seed)
                n += 1
    print("%d seeds" % n)


main()
