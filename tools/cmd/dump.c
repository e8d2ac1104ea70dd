/*
 * dump.c - `syncstore dump STORE [SYNC_ID [BUCKET]]`.
 *
 * Writes every record in key order as a raw JSON line with its "sync", so that
 * `dump STORE | load NEW` rebuilds the same records byte for byte: keys and
 * values that are not UTF-8 (or hold NUL) go out as "key_b64"/"value_b64".
 * One iterator streams the range; the store is opened read-only.
 */
#include "buf.h"
#include "commands.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: syncstore dump STORE [SYNC_ID [BUCKET]]\n"
    "\n"
    "Writes the records of STORE (or of one sync, or one bucket of it) to standard\n"
    "output as JSON Lines in key order, one raw line per record:\n"
    "  {\"sync\":S,\"bucket\":B,\"key\":K,\"value\":V}\n"
    "with \"key_b64\"/\"value_b64\" (standard base64) for bytes that are not UTF-8\n"
    "or hold NUL.  'syncstore load NEW' reads the output back exactly.\n";

int cmd_dump(int argc, char **argv)
{
    const char *args[3];
    const struct cli_command cmd = {.name = "dump", .usage = usage, .args = args, .max_args = 3};
    int parsed = cli_parse(&cmd, argc, argv, NULL);
    if (parsed >= 0)
        return parsed;
    if (!args[0]) {
        cli_error("dump needs STORE (see 'syncstore dump --help')");
        return EXIT_USAGE;
    }
    char *msg = NULL;
    if ((args[1] && engine_check_sync_id(args[1], strlen(args[1]), &msg)) ||
        (args[2] && engine_check_bucket(args[2], strlen(args[2]), &msg))) {
        cli_error("%s", msg);
        free(msg);
        return EXIT_USAGE;
    }
    engine *e = NULL;
    int status = cli_open_store(args[0], ENGINE_OPEN_READ_ONLY, &e);
    if (status)
        return status;
    if (args[1]) {
        int found = engine_sync_exists(e, NULL, args[1], &msg);
        if (found <= 0) {
            if (found == 0)
                cli_error("store '%s' has no sync '%s'", args[0], args[1]);
            else
                cli_fail(found, msg, args[0]);
            engine_close(e);
            return EXIT_WORK;
        }
    }
    engine_iter *it = args[2]   ? engine_iter_new_bucket(e, NULL, args[1], args[2])
                      : args[1] ? engine_iter_new_sync(e, NULL, args[1])
                                : engine_iter_new_all(e, NULL);
    struct buf line = BUF_INIT;
    if (!it) {
        status = cli_fail(-ENOMEM, NULL, args[0]);
        goto out;
    }
    for (engine_iter_seek_first(it); engine_iter_valid(it); engine_iter_next(it)) {
        struct engine_key_parts p;
        int rc = engine_iter_parts(it, &p, &msg);
        if (rc) {
            status = cli_fail(rc, msg, args[0]);
            goto out;
        }
        size_t vlen;
        const char *v = engine_iter_value(it, &vlen);
        buf_reset(&line);
        buf_adds(&line, "{\"sync\":");
        buf_add_json_string(&line, p.sync_id, p.sync_id_len);
        buf_adds(&line, ",\"bucket\":");
        buf_add_json_string(&line, p.bucket, p.bucket_len);
        buf_add_json_bytes_field(&line, "key", p.key, p.key_len, 0);
        buf_add_json_bytes_field(&line, "value", v, vlen, 0);
        buf_add(&line, "}\n", 2);
        if ((rc = buf_error(&line))) {
            status = cli_fail(rc, NULL, args[0]);
            goto out;
        }
        if (fwrite(line.data, 1, line.len, stdout) != line.len) {
            cli_error("cannot write the dump to standard output");
            status = EXIT_WORK;
            goto out;
        }
    }
    int rc = engine_iter_status(it, &msg);
    if (rc)
        status = cli_fail(rc, msg, args[0]);
    if (fflush(stdout) != 0) {
        cli_error("cannot write the dump to standard output");
        status = EXIT_WORK;
    }
out:
    buf_release(&line);
    engine_iter_free(it);
    engine_close(e);
    return status;
}
