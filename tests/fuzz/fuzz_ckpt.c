/* The checkpoint reader. The first input byte picks the mode: bit 0 recomputes the file's
 * four checksums before reading (without it, almost every mutation stops at a checksum and
 * the parsers behind them are never reached), bit 1 reads the header only. The rest is the
 * file. A file that is read has a table whose sizes add up; one that is refused names the
 * file. Offsets are those of docs/FORMATS.md. */
#include <stdint.h>
#include <string.h>
#include <zstd.h>

#include "engine/ckpt.h"
#include "engine/ckpt_io.h"
#include "fuzz_util.h"

#define MAX_FIXED (64u << 20) /* bytes a payload may decompress to for its checksum */

static void fix_checksums(uint8_t *p, size_t n)
{
    if (n < 96)
        return;
    uint64_t header_len = nl_get_u64le(p + 16), comp_len = nl_get_u64le(p + 64);
    uint64_t raw_len = nl_get_u64le(p + 56);
    if (header_len >= 96 + 8 && header_len <= n && comp_len <= n - header_len) {
        const uint8_t *z = p + header_len;
        nl_put_u64le(p + 80, nl_hash64(z, (size_t)comp_len));
        if (raw_len <= MAX_FIXED) {
            void *raw = malloc(raw_len ? (size_t)raw_len : 1);
            size_t got = raw ? ZSTD_decompress(raw, (size_t)raw_len, z, (size_t)comp_len) : 0;
            if (raw && !ZSTD_isError(got))
                nl_put_u64le(p + 72, nl_hash64(raw, got));
            free(raw);
        }
    }
    nl_put_u64le(p + 88, nl_hash64(p, 88));
    if (header_len >= 96 + 8 && header_len <= n)
        nl_put_u64le(p + header_len - 8, nl_hash64(p, (size_t)header_len - 8));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int mode = data[0];
    size_t n = size - 1;
    uint8_t *buf = malloc(n ? n : 1);
    memcpy(buf, data + 1, n);
    if (mode & 1)
        fix_checksums(buf, n);
    const char *path = fz_write("in.nlck", buf, n, "wb");
    free(buf);
    nl_ckpt ck;
    nl_error err = {0};
    if (nl_ckpt_read(path, &ck, (mode & 2) != 0, &err)) {
        FZ_ASSERT(strstr(err.msg, "in.nlck"), "message '%s'", err.msg);
        return 0;
    }
    FZ_ASSERT(ck.config_yaml && strlen(ck.config_yaml) < n, "config text");
    for (int i = 0; i < ck.n_tensors; i++) {
        const nl_ckpt_tensor *t = &ck.tensors[i];
        int64_t e = 1;
        for (int d = 0; d < t->ndim; d++)
            e *= t->shape[d];
        FZ_ASSERT(e == t->numel, "tensor %s numel", t->name);
        FZ_ASSERT(nl_ckpt_find(&ck, t->name) != NULL, "tensor %s by name", t->name);
        if (!(mode & 2) && t->numel > 0) {
            volatile float x = t->data[t->numel - 1];
            (void)x;
        }
    }
    nl_ckpt_free(&ck);
    return 0;
}
