/*
 * names.h - how keys become paths below /<sync_id>/<bucket>/ (SPEC "Names").
 *
 * A key is split at '/' into components; each component becomes one or more
 * path names.  Ordinary components map to themselves; every other key is
 * still reachable through a reversible encoding:
 *
 *   escapes    '%', control bytes (0x00-0x1F, 0x7F), C1 controls (U+0080-U+009F)
 *              and bytes that are not valid UTF-8 become %XX (uppercase hex);
 *              a component that is exactly "." or ".." becomes %2E or %2E%2E
 *   empty      an empty component (a//b, a leading or trailing '/') is "%%"
 *   marked     a key that is also a directory at its level (a beside a/b) is
 *              the file "a%%" beside the directory "a"
 *   split      a component whose name would exceed 255 bytes is cut, at
 *              character boundaries, into chunks of at most 252 bytes: every
 *              chunk but the last is a directory named "<chunk>%%+", and the
 *              last chunk is the component's name inside the last of them
 *
 * No name is empty, ".", ".." or over 255 bytes.  A '%' in a name always
 * starts "%XX", "%%", "%%+" or is part of a marker, so decoding is unambiguous,
 * and every key up to 1024 bytes has a path under PATH_MAX for mountpoints up
 * to 512 bytes (the worst case, 1024 escaped bytes, is about 3.1 KiB).
 *
 * The functions are pure: the FS layer supplies the one fact that depends on
 * other keys (whether a key is also a directory).
 */
#ifndef SYNCSTORE_NAMES_H
#define SYNCSTORE_NAMES_H

#include <stddef.h>

#define NAMES_NAME_MAX 255
#define NAMES_CHUNK_MAX 252

/* One directory entry on the way to a key.  A directory P (given by the raw
 * key bytes every key below it starts with) lists entries in two passes: phase
 * 1 holds whole names (files, and directories of complete components), phase 2
 * holds the split-chunk directories.  Within one phase, keys in key order give
 * equal names only consecutively, so a listing streams with no memory of what
 * it has listed beyond the last name. */
struct names_child {
    int belongs;  /* 0: the key is not below this directory (ignore it) */
    int phase;    /* 1 or 2 */
    int is_dir;   /* 0: the key itself, a file */
    int is_final; /* the key ends in this component (a file, perhaps marked) */
    char name[NAMES_NAME_MAX + 1];
    size_t name_len;
    /* Raw key bytes every key below the child starts with (a directory), or
     * the whole key (a file): the child is key[0 .. prefix_len). */
    size_t prefix_len;
};

/* The entry of directory key[0 .. dir_len) that leads to the key.  also_dir
 * tells whether keys with the prefix key + "/" exist (only used when the key
 * ends in the current component: then the file is marked).  Returns 0, or -1
 * when key[0 .. dir_len) is not a valid directory prefix of the key. */
int names_child(const char *key, size_t key_len, size_t dir_len, int also_dir,
                struct names_child *child);

enum names_kind {
    NAMES_PLAIN,  /* a whole component: a file or a directory */
    NAMES_MARKED, /* "...%%": a file whose key is also a directory */
    NAMES_CHUNK,  /* "...%%+": a split component continues below */
};

/* Decodes one path name into the raw bytes it stands for (out: at least
 * name_len bytes) and its kind.  Returns 0, or -1 when the name is no name the
 * encoding produces (the caller still confirms canonical form through
 * names_child). */
int names_decode(const char *name, size_t name_len, char *out, size_t *out_len,
                 enum names_kind *kind);

/* Whether a key is ordinary: every component non-empty, not "." or "..", at
 * most 255 bytes, printable UTF-8 and free of '%' (a key that is also a
 * directory is marked even so). */
int names_key_is_ordinary(const char *key, size_t key_len);

#endif
