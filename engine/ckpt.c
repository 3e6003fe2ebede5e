/* Checkpoint files; the layout is documented byte by byte in docs/FORMATS.md. */
#include "ckpt.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "ckpt_io.h"
#include "xalloc.h"

static const unsigned char ckpt_magic[8] = {'N', 'L', 'C', 'K', 'P', 'T', 0, 0};

/* The fixed preamble: byte offsets of its fields, all little-endian. */
enum {
    OFF_VERSION = 8,        /* u32 */
    OFF_FLAGS = 12,         /* u32, 0 */
    OFF_HEADER_LEN = 16,    /* u64: bytes before the payload, header checksum included */
    OFF_CONFIG_LEN = 24,    /* u64 */
    OFF_STATE_LEN = 32,     /* u64 */
    OFF_N_TENSORS = 40,     /* u32 */
    OFF_TABLE_LEN = 44,     /* u32: bytes of the tensor table */
    OFF_STEP = 48,          /* i64 */
    OFF_RAW_LEN = 56,       /* u64: uncompressed payload bytes */
    OFF_COMP_LEN = 64,      /* u64: compressed payload bytes */
    OFF_PAYLOAD_HASH = 72,  /* u64: checksum of the uncompressed payload */
    OFF_COMP_HASH = 80,     /* u64: checksum of the compressed payload */
    OFF_PREAMBLE_HASH = 88, /* u64: checksum of bytes 0..87 */
    PREAMBLE_LEN = 96,
};

/* The smallest zstd block (3-byte header + 1 RLE byte) stands for at most 128 KiB, so C
 * compressed bytes never decompress to more than C * 32768 bytes: a bound on what a header
 * may claim before anything is allocated. */
#define ZSTD_MAX_RATIO 32768ull

/* One table entry: u32 name_len, name, u32 ndim, i64 shape[ndim], i64 numel, u64 offset. */
static uint64_t table_entry_len(const nl_ckpt_tensor *t)
{
    return 4 + strlen(t->name) + 4 + 8 * (uint64_t)t->ndim + 8 + 8;
}
#define TABLE_ENTRY_MIN (4 + 1 + 4 + 8 + 8)

/* ---- writing ----------------------------------------------------------------------------- */

static int check_tensor(const char *path, const nl_ckpt_tensor *t, int i, uint64_t *bytes,
                        nl_error *err)
{
    size_t len = strnlen(t->name, sizeof t->name);
    if (len == 0 || len == sizeof t->name)
        return nl_fail(err, NL_ERR_USAGE, "%s: tensor %d has an empty or unterminated name", path,
                       i);
    return nl_check_tensor_shape(path, t->name, t->ndim, 4, t->shape, t->numel, t->data, 4, bytes,
                                 err);
}

/* Stream the tensors through zstd into f; returns the compressed length and the checksums of
 * the uncompressed and of the compressed bytes. The second one catches damage that zstd would
 * decode to the same data (its bitstreams have bits that do not matter). */
static int write_payload(nl_afile *f, const nl_ckpt *ck, int level, int threads, uint64_t raw_len,
                         uint64_t *comp_len, uint64_t *hash, uint64_t *comp_hash, nl_error *err)
{
    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    size_t out_cap = ZSTD_CStreamOutSize();
    void *out = nl_malloc(out_cap);
    int rc = 0;
    size_t r = 0;
    if (!cctx || !out) {
        rc = nl_fail(err, NL_ERR_IO, "%s: out of memory", f->path);
        goto done;
    }
    r = ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
    if (!ZSTD_isError(r))
        r = ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
    if (!ZSTD_isError(r))
        r = ZSTD_CCtx_setPledgedSrcSize(cctx, raw_len);
    if (ZSTD_isError(r)) {
        rc = nl_fail(err, NL_ERR_IO, "%s: zstd: %s", f->path, ZSTD_getErrorName(r));
        goto done;
    }
    /* A libzstd built without threads refuses workers; it then compresses on this thread. */
    if (threads > 0)
        (void)ZSTD_CCtx_setParameter(cctx, ZSTD_c_nbWorkers, threads);

    nl_hash64_state h, hc;
    nl_hash64_init(&h);
    nl_hash64_init(&hc);
    *comp_len = 0;
    /* one pass per tensor, then one that ends the frame (an empty input) */
    for (int i = 0; i <= ck->n_tensors; i++) {
        int last = i == ck->n_tensors;
        ZSTD_inBuffer in = {last ? NULL : ck->tensors[i].data,
                            last ? 0 : 4 * (size_t)ck->tensors[i].numel, 0};
        if (in.size)
            nl_hash64_update(&h, in.src, in.size);
        do {
            ZSTD_outBuffer o = {out, out_cap, 0};
            r = ZSTD_compressStream2(cctx, &o, &in, last ? ZSTD_e_end : ZSTD_e_continue);
            if (ZSTD_isError(r)) {
                rc = nl_fail(err, NL_ERR_IO, "%s: zstd: %s", f->path, ZSTD_getErrorName(r));
                goto done;
            }
            if ((rc = nl_afile_write(f, out, o.pos, err)))
                goto done;
            nl_hash64_update(&hc, out, o.pos);
            *comp_len += o.pos;
        } while (last ? r != 0 : in.pos < in.size);
    }
    *hash = nl_hash64_final(&h);
    *comp_hash = nl_hash64_final(&hc);
done:
    free(out);
    ZSTD_freeCCtx(cctx);
    return rc;
}

/* Check every tensor; the payload's uncompressed length and the tensor table's length. */
static int measure_tensors(const char *path, const nl_ckpt *ck, uint64_t *raw_len,
                           uint64_t *table_len, nl_error *err)
{
    if (ck->n_tensors < 0 || (ck->n_tensors > 0 && !ck->tensors))
        return nl_fail(err, NL_ERR_USAGE, "%s: bad tensor list", path);
    if (ck->state_len > 0 && !ck->state)
        return nl_fail(err, NL_ERR_USAGE, "%s: state_len %zu with no state", path, ck->state_len);
    *raw_len = 0;
    *table_len = 0;
    for (int i = 0; i < ck->n_tensors; i++) {
        uint64_t bytes = 0;
        int rc = check_tensor(path, &ck->tensors[i], i, &bytes, err);
        if (rc)
            return rc;
        if (bytes > UINT64_MAX / 2 - *raw_len)
            return nl_fail(err, NL_ERR_USAGE, "%s: the tensors are too large", path);
        *raw_len += bytes;
        *table_len += table_entry_len(&ck->tensors[i]);
    }
    if (*table_len > UINT32_MAX)
        return nl_fail(err, NL_ERR_USAGE, "%s: too many tensors", path);
    return 0;
}

/* The tensor table at p: one entry per tensor, payload offsets in order. */
static void put_table(unsigned char *p, const nl_ckpt *ck)
{
    uint64_t offset = 0;
    for (int i = 0; i < ck->n_tensors; i++) {
        const nl_ckpt_tensor *t = &ck->tensors[i];
        uint32_t name_len = (uint32_t)strlen(t->name);
        nl_put_u32le(p, name_len);
        memcpy(p + 4, t->name, name_len);
        p += 4 + name_len;
        nl_put_u32le(p, (uint32_t)t->ndim);
        p += 4;
        for (int d = 0; d < t->ndim; d++, p += 8)
            nl_put_u64le(p, (uint64_t)t->shape[d]);
        nl_put_u64le(p, (uint64_t)t->numel);
        nl_put_u64le(p + 8, offset);
        p += 16;
        offset += 4 * (uint64_t)t->numel;
    }
}

/* The header (header_len bytes, zeroed) with everything but the payload's lengths and
 * checksums, which are known only once it has been written. */
static void put_header(unsigned char *hdr, uint64_t header_len, const nl_ckpt *ck,
                       const char *config, uint64_t table_len, uint64_t raw_len)
{
    uint64_t config_len = strlen(config);
    memcpy(hdr, ckpt_magic, 8);
    nl_put_u32le(hdr + OFF_VERSION, NL_CKPT_VERSION);
    nl_put_u32le(hdr + OFF_FLAGS, 0);
    nl_put_u64le(hdr + OFF_HEADER_LEN, header_len);
    nl_put_u64le(hdr + OFF_CONFIG_LEN, config_len);
    nl_put_u64le(hdr + OFF_STATE_LEN, ck->state_len);
    nl_put_u32le(hdr + OFF_N_TENSORS, (uint32_t)ck->n_tensors);
    nl_put_u32le(hdr + OFF_TABLE_LEN, (uint32_t)table_len);
    nl_put_u64le(hdr + OFF_STEP, (uint64_t)ck->step);
    nl_put_u64le(hdr + OFF_RAW_LEN, raw_len);
    unsigned char *p = hdr + PREAMBLE_LEN;
    memcpy(p, config, config_len);
    p += config_len;
    if (ck->state_len)
        memcpy(p, ck->state, ck->state_len);
    p += ck->state_len;
    put_table(p, ck);
}

/* The header goes out first as a placeholder, the payload streams after it, and the header
 * is rewritten once the compressed length and payload checksum are known. */
static int write_file(const char *path, const nl_ckpt *ck, unsigned char *hdr, uint64_t header_len,
                      uint64_t raw_len, int level, int threads, nl_error *err)
{
    nl_afile f;
    int rc = nl_afile_open(&f, path, err);
    if (rc)
        return rc;
    uint64_t comp_len = 0, payload_hash = 0, comp_hash = 0;
    rc = nl_afile_write(&f, hdr, header_len, err);
    if (!rc)
        rc = write_payload(&f, ck, level, threads, raw_len, &comp_len, &payload_hash, &comp_hash,
                           err);
    if (!rc) {
        nl_put_u64le(hdr + OFF_COMP_LEN, comp_len);
        nl_put_u64le(hdr + OFF_PAYLOAD_HASH, payload_hash);
        nl_put_u64le(hdr + OFF_COMP_HASH, comp_hash);
        nl_put_u64le(hdr + OFF_PREAMBLE_HASH, nl_hash64(hdr, OFF_PREAMBLE_HASH));
        nl_put_u64le(hdr + header_len - 8, nl_hash64(hdr, header_len - 8));
        rc = nl_afile_pwrite(&f, hdr, header_len, 0, err);
    }
    if (rc) {
        nl_afile_abort(&f);
        return rc;
    }
    return nl_afile_commit(&f, err);
}

int nl_ckpt_write(const char *path, const nl_ckpt *ck, int level, int threads, nl_error *err)
{
    uint64_t raw_len = 0, table_len = 0;
    int rc = measure_tensors(path, ck, &raw_len, &table_len, err);
    if (rc)
        return rc;
    const char *config = ck->config_yaml ? ck->config_yaml : "";
    uint64_t header_len = PREAMBLE_LEN + strlen(config) + ck->state_len + table_len + 8;
    unsigned char *hdr = nl_calloc(1, header_len); /* zeros: the placeholder goes out first */
    if (!hdr)
        return nl_fail(err, NL_ERR_IO, "%s: out of memory", path);
    put_header(hdr, header_len, ck, config, table_len, raw_len);
    rc = write_file(path, ck, hdr, header_len, raw_len, level, threads, err);
    free(hdr);
    return rc;
}

/* ---- reading ----------------------------------------------------------------------------- */

/* Parse the tensor table in [p, end) into ck->tensors (already allocated, n entries). */
static int parse_table(const char *path, const unsigned char *p, const unsigned char *end,
                       nl_ckpt *ck, uint64_t raw_len, nl_error *err)
{
    uint64_t offset = 0;
    for (int i = 0; i < ck->n_tensors; i++) {
        nl_ckpt_tensor *t = &ck->tensors[i];
        if (end - p < 4)
            goto bad;
        uint32_t name_len = nl_get_u32le(p);
        p += 4;
        if (name_len == 0 || name_len >= sizeof t->name || (uint64_t)(end - p) < name_len ||
            memchr(p, 0, name_len))
            goto bad;
        memcpy(t->name, p, name_len);
        t->name[name_len] = '\0';
        p += name_len;
        if (end - p < 4)
            goto bad;
        uint32_t ndim = nl_get_u32le(p);
        p += 4;
        if (ndim > 4 || (uint64_t)(end - p) < 8 * (uint64_t)ndim + 16)
            goto bad;
        t->ndim = (int)ndim;
        uint64_t numel = 1, room = (raw_len - offset) / 4;
        for (uint32_t d = 0; d < ndim; d++, p += 8) {
            uint64_t dim = nl_get_u64le(p);
            if (dim > (uint64_t)INT64_MAX)
                goto bad;
            if (dim && numel > room / dim)
                goto bad; /* more than the payload holds */
            numel *= dim;
            t->shape[d] = (int64_t)dim;
        }
        if (numel > room || nl_get_u64le(p) != numel || nl_get_u64le(p + 8) != offset)
            goto bad;
        p += 16;
        t->numel = (int64_t)numel;
        offset += 4 * numel;
    }
    if (p != end || offset != raw_len)
        goto bad;
    return 0;
bad:
    return nl_fail(err, NL_ERR_USAGE, "%s: bad tensor table (corrupted)", path);
}

/* Fill *in from the file when it is used up; *left counts compressed bytes not yet read. */
static int refill(int fd, const char *path, ZSTD_inBuffer *in, uint64_t *pos, uint64_t *left,
                  size_t cap, nl_hash64_state *hc, nl_error *err)
{
    if (in->pos < in->size || *left == 0)
        return 0;
    size_t n = *left < cap ? (size_t)*left : cap;
    int rc = nl_pread_all(fd, path, (void *)in->src, n, *pos, err);
    if (rc)
        return rc;
    nl_hash64_update(hc, in->src, n);
    in->size = n;
    in->pos = 0;
    *pos += n;
    *left -= n;
    return 0;
}

static int zstd_fail(const char *path, size_t r, nl_error *err)
{
    if (ZSTD_getErrorCode(r) == ZSTD_error_checksum_wrong)
        return nl_fail(err, NL_ERR_USAGE, "%s: payload checksum mismatch (corrupted)", path);
    return nl_fail(err, NL_ERR_USAGE, "%s: payload corrupted (zstd: %s)", path,
                   ZSTD_getErrorName(r));
}

/* Decompress the payload at [pos, pos + comp_len) straight into the tensors' buffers. */
static int read_payload(int fd, const char *path, uint64_t pos, uint64_t comp_len, nl_ckpt *ck,
                        uint64_t want_hash, uint64_t want_comp_hash, nl_error *err)
{
    ZSTD_DCtx *dctx = ZSTD_createDCtx();
    size_t in_cap = ZSTD_DStreamInSize();
    unsigned char *in_buf = nl_malloc(in_cap);
    int rc = 0;
    if (!dctx || !in_buf) {
        rc = nl_fail(err, NL_ERR_IO, "%s: out of memory", path);
        goto done;
    }
    ZSTD_inBuffer in = {in_buf, 0, 0};
    uint64_t left = comp_len;
    size_t zr = 1; /* 0 once the frame is complete */
    nl_hash64_state h, hc;
    nl_hash64_init(&h);
    nl_hash64_init(&hc);
    /* One pass per tensor, then one more with a 1-byte sink to reach the end of the frame:
     * it must end exactly where the tensor table says the data ends. */
    unsigned char sink;
    for (int i = 0; i <= ck->n_tensors; i++) {
        int last = i == ck->n_tensors;
        ZSTD_outBuffer o = {last ? (void *)&sink : (void *)ck->tensors[i].data,
                            last ? 1 : 4 * (size_t)ck->tensors[i].numel, 0};
        while (last ? zr != 0 : o.pos < o.size) {
            if ((rc = refill(fd, path, &in, &pos, &left, in_cap, &hc, err)))
                goto done;
            if (zr == 0) {
                rc = nl_fail(err, NL_ERR_USAGE, "%s: payload ends before tensor %s (corrupted)",
                             path, ck->tensors[i].name);
                goto done;
            }
            size_t in0 = in.pos, out0 = o.pos;
            zr = ZSTD_decompressStream(dctx, &o, &in);
            if (ZSTD_isError(zr)) {
                rc = zstd_fail(path, zr, err);
                goto done;
            }
            if (last && o.pos) {
                rc = nl_fail(err, NL_ERR_USAGE,
                             "%s: payload longer than the tensor table says (corrupted)", path);
                goto done;
            }
            nl_hash64_update(&h, (unsigned char *)o.dst + out0, o.pos - out0);
            if (in.pos == in0 && o.pos == out0 && in.pos == in.size && left == 0) {
                rc = nl_fail(err, NL_ERR_USAGE, "%s: compressed payload ends early (corrupted)",
                             path);
                goto done;
            }
        }
    }
    if (in.pos < in.size || left > 0) {
        rc = nl_fail(err, NL_ERR_USAGE, "%s: data after the end of the payload (corrupted)", path);
        goto done;
    }
    if (nl_hash64_final(&hc) != want_comp_hash || nl_hash64_final(&h) != want_hash)
        rc = nl_fail(err, NL_ERR_USAGE, "%s: payload checksum mismatch (corrupted)", path);
done:
    free(in_buf);
    ZSTD_freeDCtx(dctx);
    return rc;
}

static int fail_truncated(const char *path, int at_least, uint64_t want, uint64_t size,
                          nl_error *err)
{
    return nl_fail(err, NL_ERR_USAGE, "%s: truncated (expected %s%llu bytes, file has %llu)", path,
                   at_least ? "at least " : "", (unsigned long long)want, (unsigned long long)size);
}

/* The preamble's lengths. */
typedef struct ckpt_lengths {
    uint64_t header, config, state, raw, comp;
    uint32_t n_tensors, table;
} ckpt_lengths;

/* Check the preamble pre (have bytes of a size-byte file): magic, version, checksum, flags. */
static int check_preamble(const char *path, const unsigned char *pre, size_t have, uint64_t size,
                          nl_error *err)
{
    if (memcmp(pre, ckpt_magic, have < 8 ? have : 8) != 0)
        return nl_fail(err, NL_ERR_USAGE, "%s: not a normlab checkpoint", path);
    if (have < OFF_FLAGS)
        return fail_truncated(path, 1, PREAMBLE_LEN, size, err);
    uint32_t version = nl_get_u32le(pre + OFF_VERSION);
    if (version > NL_CKPT_VERSION)
        return nl_fail(err, NL_ERR_USAGE,
                       "%s: checkpoint version %u is newer than this normlab (%d)", path, version,
                       NL_CKPT_VERSION);
    if (version == 0)
        return nl_fail(err, NL_ERR_USAGE, "%s: checkpoint version 0 is not valid (corrupted)",
                       path);
    if (have < PREAMBLE_LEN)
        return fail_truncated(path, 1, PREAMBLE_LEN, size, err);
    if (nl_hash64(pre, OFF_PREAMBLE_HASH) != nl_get_u64le(pre + OFF_PREAMBLE_HASH))
        return nl_fail(err, NL_ERR_USAGE, "%s: header checksum mismatch (corrupted)", path);
    if (nl_get_u32le(pre + OFF_FLAGS) != 0)
        return nl_fail(err, NL_ERR_USAGE, "%s: unknown checkpoint flags 0x%x", path,
                       nl_get_u32le(pre + OFF_FLAGS));
    return 0;
}

/* The lengths of a checked preamble into *n, refused unless they add up to the file's size. */
static int read_lengths(const char *path, const unsigned char *pre, uint64_t size, ckpt_lengths *n,
                        nl_error *err)
{
    n->header = nl_get_u64le(pre + OFF_HEADER_LEN);
    n->config = nl_get_u64le(pre + OFF_CONFIG_LEN);
    n->state = nl_get_u64le(pre + OFF_STATE_LEN);
    n->n_tensors = nl_get_u32le(pre + OFF_N_TENSORS);
    n->table = nl_get_u32le(pre + OFF_TABLE_LEN);
    n->raw = nl_get_u64le(pre + OFF_RAW_LEN);
    n->comp = nl_get_u64le(pre + OFF_COMP_LEN);
    if (n->header > UINT64_MAX - n->comp)
        return nl_fail(err, NL_ERR_USAGE, "%s: bad header lengths (corrupted)", path);
    if (n->header + n->comp > size)
        return fail_truncated(path, 0, n->header + n->comp, size, err);
    if (n->header + n->comp < size)
        return nl_fail(err, NL_ERR_USAGE, "%s: %llu unexpected bytes after the payload", path,
                       (unsigned long long)(size - n->header - n->comp));
    /* Each length is now below the file size, so these sums cannot wrap. */
    if (n->header < PREAMBLE_LEN + 8 || n->config > n->header || n->state > n->header ||
        PREAMBLE_LEN + n->config + n->state + n->table + 8 != n->header ||
        n->n_tensors > n->table / TABLE_ENTRY_MIN || n->n_tensors > INT32_MAX ||
        (n->comp <= UINT64_MAX / ZSTD_MAX_RATIO && n->raw > n->comp * ZSTD_MAX_RATIO) ||
        n->raw % 4 != 0)
        return nl_fail(err, NL_ERR_USAGE, "%s: bad header lengths (corrupted)", path);
    return 0;
}

/* From the header hdr (checksum checked): the config text, the state blob and the table. */
static int take_header(const char *path, const unsigned char *hdr, const ckpt_lengths *n,
                       nl_ckpt *ck, nl_error *err)
{
    const unsigned char *p = hdr + PREAMBLE_LEN;
    if (memchr(p, 0, n->config))
        return nl_fail(err, NL_ERR_USAGE, "%s: config text holds a NUL byte (corrupted)", path);
    ck->config_yaml = nl_malloc(n->config + 1);
    ck->state = n->state ? nl_malloc(n->state) : NULL;
    ck->tensors = n->n_tensors ? nl_calloc(n->n_tensors, sizeof *ck->tensors) : NULL;
    if (!ck->config_yaml || (n->state && !ck->state) || (n->n_tensors && !ck->tensors))
        return nl_fail(err, NL_ERR_IO, "%s: out of memory", path);
    memcpy(ck->config_yaml, p, n->config);
    ck->config_yaml[n->config] = '\0';
    p += n->config;
    if (n->state)
        memcpy(ck->state, p, n->state);
    ck->state_len = n->state;
    p += n->state;
    ck->n_tensors = (int)n->n_tensors;
    return parse_table(path, p, p + n->table, ck, n->raw, err);
}

static int alloc_tensor_data(const char *path, nl_ckpt *ck, nl_error *err)
{
    for (int i = 0; i < ck->n_tensors; i++) {
        size_t bytes = 4 * (size_t)ck->tensors[i].numel;
        ck->tensors[i].data = nl_malloc(bytes ? bytes : 1);
        if (!ck->tensors[i].data)
            return nl_fail(err, NL_ERR_IO, "%s: out of memory for tensor %s (%zu bytes)", path,
                           ck->tensors[i].name, bytes);
    }
    return 0;
}

static int read_ckpt(int fd, const char *path, uint64_t size, nl_ckpt *ck, int header_only,
                     nl_error *err)
{
    unsigned char pre[PREAMBLE_LEN];
    size_t have = size < PREAMBLE_LEN ? (size_t)size : PREAMBLE_LEN;
    ckpt_lengths n;
    int rc = nl_pread_all(fd, path, pre, have, 0, err);
    if (!rc)
        rc = check_preamble(path, pre, have, size, err);
    if (!rc)
        rc = read_lengths(path, pre, size, &n, err);
    if (rc)
        return rc;
    unsigned char *hdr = nl_malloc(n.header);
    if (!hdr)
        return nl_fail(err, NL_ERR_IO, "%s: out of memory", path);
    if ((rc = nl_pread_all(fd, path, hdr, n.header, 0, err)))
        goto done;
    if (nl_hash64(hdr, n.header - 8) != nl_get_u64le(hdr + n.header - 8)) {
        rc = nl_fail(err, NL_ERR_USAGE, "%s: header checksum mismatch (corrupted)", path);
        goto done;
    }
    ck->version = (int)nl_get_u32le(pre + OFF_VERSION);
    ck->step = (int64_t)nl_get_u64le(pre + OFF_STEP);
    if ((rc = take_header(path, hdr, &n, ck, err)) || header_only)
        goto done;
    if ((rc = alloc_tensor_data(path, ck, err)))
        goto done;
    rc = read_payload(fd, path, n.header, n.comp, ck, nl_get_u64le(pre + OFF_PAYLOAD_HASH),
                      nl_get_u64le(pre + OFF_COMP_HASH), err);
done:
    free(hdr);
    return rc;
}

int nl_ckpt_read(const char *path, nl_ckpt *out, int header_only, nl_error *err)
{
    memset(out, 0, sizeof *out);
    int fd;
    uint64_t size;
    int rc = nl_open_read(path, &fd, &size, err);
    if (rc)
        return rc;
    rc = read_ckpt(fd, path, size, out, header_only, err);
    close(fd);
    if (rc)
        nl_ckpt_free(out);
    return rc;
}

void nl_ckpt_free(nl_ckpt *ck)
{
    if (!ck)
        return;
    for (int i = 0; ck->tensors && i < ck->n_tensors; i++)
        free(ck->tensors[i].data);
    free(ck->tensors);
    free(ck->config_yaml);
    free(ck->state);
    memset(ck, 0, sizeof *ck);
}

const nl_ckpt_tensor *nl_ckpt_find(const nl_ckpt *ck, const char *name)
{
    for (int i = 0; i < ck->n_tensors; i++)
        if (strcmp(ck->tensors[i].name, name) == 0)
            return &ck->tensors[i];
    return NULL;
}
