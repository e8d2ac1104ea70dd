#!/usr/bin/env python3
"""Seeds for fuzz_c1z3, made at run time from the shared C1Z3 sample (which is
not copied into the project): its MANIFEST (reader 0), its tables up to
MAX_LEN bytes (reader 1) and the front of the file (reader 2), each behind
the byte that chooses the reader (tests/fuzz/fuzz_c1z3.c).

The INDEXED_ZSTD layout (see tools/formats/c1z3/c1z3_envelope.h): a 28-byte
footer u64 index offset | u32 index length | u64 xxh64 | "C1ZIDX1\\0"; the index
a protobuf IndexedFrameIndex whose entries (field 1) hold 1 name, 2 frame
offset, 3 compressed size.  Frames are decompressed with the zstd CLI.

usage: c1z3_seeds.py SAMPLE OUT_DIR MAX_LEN"""
import os
import struct
import subprocess
import sys


def varint(b, i):
    r = s = 0
    while True:
        c = b[i]
        i += 1
        r |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return r, i


def fields(b):
    i, out = 0, []
    while i < len(b):
        tag, i = varint(b, i)
        num, wt = tag >> 3, tag & 7
        if wt == 0:
            v, i = varint(b, i)
        elif wt == 1:
            v, i = b[i:i + 8], i + 8
        elif wt == 2:
            n, i = varint(b, i)
            v, i = b[i:i + n], i + n
        elif wt == 5:
            v, i = b[i:i + 4], i + 4
        else:
            raise ValueError("wire type %d" % wt)
        out.append((num, v))
    return out


def main():
    sample, out, max_len = sys.argv[1], sys.argv[2], int(sys.argv[3])
    data = open(sample, "rb").read()
    os.makedirs(out, exist_ok=True)
    off, length = struct.unpack(">QI", data[-28:-16])
    n = 0
    for num, entry in fields(data[off:off + length]):
        if num != 1:
            continue
        f = dict(fields(entry))
        name = f[1].decode()
        frame = data[f[2]:f[2] + f[3]]
        raw = subprocess.run(["zstd", "-dcq"], input=frame, stdout=subprocess.PIPE,
                             check=True).stdout
        if name.startswith("MANIFEST-"):
            kind = 0
        elif name.endswith(".sst") and len(raw) < max_len:
            kind = 1
        else:
            continue
        with open(os.path.join(out, "%d-%s" % (kind, name)), "wb") as w:
            w.write(bytes([kind]) + raw[:max_len - 1])
        n += 1
    with open(os.path.join(out, "2-front"), "wb") as w:
        w.write(b"\x02" + data[:max_len - 1])
    print("c1z3_seeds: %d seeds from %s" % (n + 1, sample))


main()
