/* The safetensors format (docs/FORMATS.md): read with a strict JSON header parser and every
 * offset checked against the file; written atomically with the header padded to 8 bytes. */
#include "safetensors.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckpt_io.h"
#include "json_text.h"
#include "xalloc.h"

static const char *const dtype_names[] = {"F32", "I32", "F64", "I64"};
static const size_t dtype_sizes[] = {4, 4, 8, 8};
#define N_DTYPES 4
#define MAX_NDIM 8

/* ---- reading ----------------------------------------------------------------------------- */

typedef struct span {
    uint64_t begin, end;
    int index;
} span;

static int span_by_begin(const void *a, const void *b)
{
    const span *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorts a copy of names and reports the first one that appears twice, or NULL. */
static const char *first_duplicate(const char **names, size_t n, int *oom)
{
    *oom = 0;
    if (n < 2)
        return NULL;
    const char **sorted = nl_malloc(n * sizeof *sorted);
    if (!sorted) {
        *oom = 1;
        return NULL;
    }
    memcpy(sorted, names, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, name_cmp);
    const char *dup = NULL;
    for (size_t i = 1; i < n && !dup; i++)
        if (strcmp(sorted[i - 1], sorted[i]) == 0)
            dup = sorted[i];
    free(sorted);
    return dup;
}

/* Byte offsets in messages count from the start of the file: 8 bytes of length come first. */
#define FILE_OFF(o) ((unsigned long long)(o) + 8)

static int read_metadata(const char *path, const nl_json *m, nl_st_file *out, nl_error *err)
{
    if (m->kind != NL_JSON_OBJECT)
        return nl_fail(err, NL_ERR_USAGE, "%s: __metadata__ at byte %llu is not an object", path,
                       FILE_OFF(m->offset));
    out->meta_keys = nl_calloc(m->len ? m->len : 1, sizeof *out->meta_keys);
    out->meta_vals = nl_calloc(m->len ? m->len : 1, sizeof *out->meta_vals);
    if (!out->meta_keys || !out->meta_vals)
        return nl_fail(err, NL_ERR_IO, "%s: out of memory", path);
    for (size_t i = 0; i < m->len; i++) {
        const nl_json *v = &m->items[i];
        if (v->kind != NL_JSON_STRING)
            return nl_fail(err, NL_ERR_USAGE,
                           "%s: __metadata__ value \"%s\" at byte %llu is not a string", path,
                           v->key, FILE_OFF(v->offset));
        if (strlen(v->key) != v->key_len || strlen(v->str) != v->len)
            return nl_fail(err, NL_ERR_USAGE,
                           "%s: __metadata__ entry at byte %llu holds a NUL character", path,
                           FILE_OFF(v->key_offset));
        out->meta_keys[i] = nl_strdup(v->key);
        out->meta_vals[i] = nl_strdup(v->str);
        out->n_meta = (int)i + 1;
        if (!out->meta_keys[i] || !out->meta_vals[i])
            return nl_fail(err, NL_ERR_IO, "%s: out of memory", path);
    }
    int oom;
    const char *dup = first_duplicate((const char **)out->meta_keys, (size_t)out->n_meta, &oom);
    if (oom)
        return nl_fail(err, NL_ERR_IO, "%s: out of memory", path);
    if (dup)
        return nl_fail(err, NL_ERR_USAGE, "%s: __metadata__ key \"%s\" appears twice", path, dup);
    return 0;
}

/* Reads a non-negative integer; the caller names the field in the message. */
static int get_uint(const nl_json *v, uint64_t *out)
{
    if (v->kind != NL_JSON_NUMBER || !v->is_int || v->i < 0)
        return -1;
    *out = (uint64_t)v->i;
    return 0;
}

/* The fields of the tensor info object v (named name): dtype, shape and data_offsets, each
 * present once and nothing else. */
static int find_fields(const char *path, const char *name, const nl_json *v, const nl_json **dtype,
                       const nl_json **shape, const nl_json **offs, nl_error *err)
{
    *dtype = *shape = *offs = NULL;
    for (size_t i = 0; i < v->len; i++) {
        const nl_json *f = &v->items[i];
        const nl_json **slot = !strcmp(f->key, "dtype")          ? dtype
                               : !strcmp(f->key, "shape")        ? shape
                               : !strcmp(f->key, "data_offsets") ? offs
                                                                 : NULL;
        if (!slot)
            return nl_fail(err, NL_ERR_USAGE,
                           "%s: tensor \"%s\": unknown field \"%s\" at byte %llu", path, name,
                           f->key, FILE_OFF(f->key_offset));
        if (*slot)
            return nl_fail(err, NL_ERR_USAGE,
                           "%s: tensor \"%s\": field \"%s\" appears twice (byte %llu)", path, name,
                           f->key, FILE_OFF(f->key_offset));
        *slot = f;
    }
    if (!*dtype || !*shape || !*offs)
        return nl_fail(err, NL_ERR_USAGE, "%s: tensor \"%s\" at byte %llu lacks \"%s\"", path, name,
                       FILE_OFF(v->offset),
                       !*dtype   ? "dtype"
                       : !*shape ? "shape"
                                 : "data_offsets");
    return 0;
}

static int read_dtype(const char *path, const nl_json *dtype, nl_st_tensor *t, nl_error *err)
{
    if (dtype->kind != NL_JSON_STRING)
        return nl_fail(err, NL_ERR_USAGE, "%s: tensor \"%s\": dtype at byte %llu is not a string",
                       path, t->name, FILE_OFF(dtype->offset));
    int d = 0;
    while (d < N_DTYPES && strcmp(dtype->str, dtype_names[d]) != 0)
        d++;
    if (d == N_DTYPES)
        return nl_fail(
            err, NL_ERR_USAGE,
            "%s: tensor \"%s\" has dtype %.32s, which normlab does not read (F32, I32, F64, I64)",
            path, t->name, dtype->str);
    t->dtype = (nl_st_dtype)d;
    return 0;
}

/* t's shape; *numel is its element count, or room + 1 when that is more than room. */
static int read_shape(const char *path, const nl_json *shape, uint64_t room, nl_st_tensor *t,
                      uint64_t *numel, nl_error *err)
{
    if (shape->kind != NL_JSON_ARRAY || shape->len > MAX_NDIM)
        return nl_fail(err, NL_ERR_USAGE,
                       "%s: tensor \"%s\": shape at byte %llu is not an array of at most %d sizes",
                       path, t->name, FILE_OFF(shape->offset), MAX_NDIM);
    t->ndim = (int)shape->len;
    *numel = 1;
    for (size_t i = 0; i < shape->len; i++) {
        uint64_t dim;
        if (get_uint(&shape->items[i], &dim))
            return nl_fail(
                err, NL_ERR_USAGE,
                "%s: tensor \"%s\": shape entry at byte %llu is not a non-negative integer", path,
                t->name, FILE_OFF(shape->items[i].offset));
        t->shape[i] = (int64_t)dim;
        if (dim && *numel > room / dim)
            *numel = room + 1; /* too large either way */
        else
            *numel *= dim;
    }
    return 0;
}

/* t's data_offsets into *sp: inside the data_len data bytes, and as long as numel elements of
 * esize bytes (room: the most elements the data holds). */
static int read_offsets(const char *path, const nl_json *offs, uint64_t data_len, uint64_t numel,
                        uint64_t room, size_t esize, const nl_st_tensor *t, span *sp, nl_error *err)
{
    const char *name = t->name;
    uint64_t begin, end;
    if (offs->kind != NL_JSON_ARRAY || offs->len != 2 || get_uint(&offs->items[0], &begin) ||
        get_uint(&offs->items[1], &end))
        return nl_fail(err, NL_ERR_USAGE,
                       "%s: tensor \"%s\": data_offsets at byte %llu is not [begin, end]", path,
                       name, FILE_OFF(offs->offset));
    if (begin > end || end > data_len)
        return nl_fail(
            err, NL_ERR_USAGE,
            "%s: tensor \"%s\": data_offsets [%llu, %llu] fall outside the %llu data bytes", path,
            name, (unsigned long long)begin, (unsigned long long)end, (unsigned long long)data_len);
    if (numel > room || end - begin != numel * esize)
        return nl_fail(
            err, NL_ERR_USAGE,
            "%s: tensor \"%s\": data_offsets [%llu, %llu] hold %llu bytes, but its shape "
            "and dtype need %s%llu",
            path, name, (unsigned long long)begin, (unsigned long long)end,
            (unsigned long long)(end - begin), numel > room ? "more than " : "",
            (unsigned long long)((numel > room ? room : numel) * esize));
    sp->begin = begin;
    sp->end = end;
    return 0;
}

/* Fill t from the header entry v (the tensor's info object); data_len bounds the offsets. */
static int read_tensor_info(const char *path, const nl_json *v, uint64_t data_len, nl_st_tensor *t,
                            span *sp, nl_error *err)
{
    const char *name = v->key;
    if (v->key_len == 0 || v->key_len >= sizeof t->name || strlen(name) != v->key_len)
        return nl_fail(
            err, NL_ERR_USAGE,
            "%s: tensor name at byte %llu is empty, longer than %zu bytes or holds a NUL", path,
            FILE_OFF(v->key_offset), sizeof t->name - 1);
    memcpy(t->name, name, v->key_len + 1);
    if (v->kind != NL_JSON_OBJECT)
        return nl_fail(err, NL_ERR_USAGE, "%s: tensor \"%s\" at byte %llu: expected an object",
                       path, name, FILE_OFF(v->offset));
    const nl_json *dtype, *shape, *offs;
    int rc = find_fields(path, name, v, &dtype, &shape, &offs, err);
    if (!rc)
        rc = read_dtype(path, dtype, t, err);
    if (rc)
        return rc;
    size_t esize = dtype_sizes[t->dtype];
    uint64_t numel = 0, room = data_len / esize; /* no more elements than the data holds */
    if ((rc = read_shape(path, shape, room, t, &numel, err)) ||
        (rc = read_offsets(path, offs, data_len, numel, room, esize, t, sp, err)))
        return rc;
    t->numel = (int64_t)numel;
    return 0;
}

/* The JSON header of a size-byte file into *text (caller frees) and *root; *hlen its length. */
static int read_header_json(int fd, const char *path, uint64_t size, char **text, uint64_t *hlen,
                            nl_json *root, nl_error *err)
{
    unsigned char len8[8];
    if (size < 8)
        return nl_fail(err, NL_ERR_USAGE, "%s: too short for a safetensors file (%llu bytes)", path,
                       (unsigned long long)size);
    int rc = nl_pread_all(fd, path, len8, 8, 0, err);
    if (rc)
        return rc;
    *hlen = nl_get_u64le(len8);
    if (*hlen > size - 8)
        return nl_fail(err, NL_ERR_USAGE,
                       "%s: header length %llu runs past the end of the file (%llu bytes); "
                       "truncated, or not a safetensors file",
                       path, (unsigned long long)*hlen, (unsigned long long)size);
    *text = nl_malloc(*hlen ? *hlen : 1);
    if (!*text)
        return nl_fail(err, NL_ERR_IO, "%s: out of memory", path);
    size_t bad_at = 0;
    char why[160];
    if ((rc = nl_pread_all(fd, path, *text, *hlen, 8, err)))
        return rc;
    if (nl_json_parse(*text, *hlen, root, &bad_at, why, sizeof why))
        return nl_fail(err, NL_ERR_USAGE, "%s: bad safetensors header at byte %llu: %s", path,
                       FILE_OFF(bad_at), why);
    if (root->kind != NL_JSON_OBJECT)
        return nl_fail(err, NL_ERR_USAGE,
                       "%s: the safetensors header at byte 8 is not a JSON object", path);
    return 0;
}

/* Every entry of the header root: the metadata and the n tensors' infos (into out->tensors,
 * spans and names, n entries each). */
static int read_entries(const char *path, const nl_json *root, uint64_t data_len, nl_st_file *out,
                        span *spans, const char **names, nl_error *err)
{
    int seen_meta = 0, rc;
    for (size_t i = 0; i < root->len; i++) {
        const nl_json *v = &root->items[i];
        if (strcmp(v->key, "__metadata__") == 0) {
            if (seen_meta++)
                return nl_fail(err, NL_ERR_USAGE, "%s: __metadata__ appears twice (byte %llu)",
                               path, FILE_OFF(v->key_offset));
            if ((rc = read_metadata(path, v, out, err)))
                return rc;
            continue;
        }
        int k = out->n_tensors;
        if ((rc = read_tensor_info(path, v, data_len, &out->tensors[k], &spans[k], err)))
            return rc;
        spans[k].index = k;
        names[k] = out->tensors[k].name;
        out->n_tensors = k + 1;
    }
    return 0;
}

/* Names unique, data spans disjoint (spans sorted by where they begin), then the data read. */
static int read_data(int fd, const char *path, uint64_t data_at, nl_st_file *out, span *spans,
                     const char **names, size_t n, nl_error *err)
{
    int oom;
    const char *dup = first_duplicate(names, n, &oom);
    if (oom)
        return nl_fail(err, NL_ERR_IO, "%s: out of memory", path);
    if (dup)
        return nl_fail(err, NL_ERR_USAGE, "%s: tensor \"%s\" appears twice", path, dup);
    qsort(spans, n, sizeof *spans, span_by_begin);
    for (size_t i = 1; i < n; i++)
        if (spans[i].begin < spans[i - 1].end)
            return nl_fail(err, NL_ERR_USAGE, "%s: tensors \"%s\" and \"%s\" overlap in the data",
                           path, out->tensors[spans[i - 1].index].name,
                           out->tensors[spans[i].index].name);
    for (size_t i = 0; i < n; i++) {
        nl_st_tensor *t = &out->tensors[spans[i].index];
        size_t bytes = (size_t)(spans[i].end - spans[i].begin);
        t->data = nl_malloc(bytes ? bytes : 1);
        if (!t->data)
            return nl_fail(err, NL_ERR_IO, "%s: out of memory for tensor %s", path, t->name);
        int rc = nl_pread_all(fd, path, t->data, bytes, data_at + spans[i].begin, err);
        if (rc)
            return rc;
    }
    return 0;
}

static int read_st(int fd, const char *path, uint64_t size, nl_st_file *out, nl_error *err)
{
    char *text = NULL;
    uint64_t hlen = 0;
    nl_json root;
    span *spans = NULL;
    const char **names = NULL;
    memset(&root, 0, sizeof root);
    int rc = read_header_json(fd, path, size, &text, &hlen, &root, err);
    if (rc)
        goto done;
    size_t n = 0;
    for (size_t i = 0; i < root.len; i++)
        n += strcmp(root.items[i].key, "__metadata__") != 0;
    out->tensors = nl_calloc(n ? n : 1, sizeof *out->tensors);
    spans = nl_calloc(n ? n : 1, sizeof *spans);
    names = nl_calloc(n ? n : 1, sizeof *names);
    if (!out->tensors || !spans || !names) {
        rc = nl_fail(err, NL_ERR_IO, "%s: out of memory", path);
        goto done;
    }
    uint64_t data_len = size - 8 - hlen;
    if (!(rc = read_entries(path, &root, data_len, out, spans, names, err)))
        rc = read_data(fd, path, 8 + hlen, out, spans, names, n, err);
done:
    free(names);
    free(spans);
    nl_json_free(&root);
    free(text);
    return rc;
}

int nl_st_read(const char *path, nl_st_file *out, nl_error *err)
{
    memset(out, 0, sizeof *out);
    int fd;
    uint64_t size;
    int rc = nl_open_read(path, &fd, &size, err);
    if (rc)
        return rc;
    rc = read_st(fd, path, size, out, err);
    close(fd);
    if (rc)
        nl_st_free(out);
    return rc;
}

void nl_st_free(nl_st_file *f)
{
    if (!f)
        return;
    for (int i = 0; f->tensors && i < f->n_tensors; i++)
        free(f->tensors[i].data);
    free(f->tensors);
    for (int i = 0; i < f->n_meta; i++) {
        free(f->meta_keys[i]);
        free(f->meta_vals[i]);
    }
    free(f->meta_keys);
    free(f->meta_vals);
    memset(f, 0, sizeof *f);
}

const nl_st_tensor *nl_st_find(const nl_st_file *f, const char *name)
{
    for (int i = 0; i < f->n_tensors; i++)
        if (strcmp(f->tensors[i].name, name) == 0)
            return &f->tensors[i];
    return NULL;
}

const char *nl_st_meta(const nl_st_file *f, const char *key)
{
    for (int i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta_keys[i], key) == 0)
            return f->meta_vals[i];
    return NULL;
}

/* ---- writing ----------------------------------------------------------------------------- */

static int utf8_valid(const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        size_t k = nl_utf8_seq_len((const unsigned char *)s + i, n - i);
        if (!k)
            return 0;
        i += k;
    }
    return 1;
}

static int check_tensor(const char *path, const nl_st_tensor *t, int i, uint64_t *bytes,
                        nl_error *err)
{
    size_t len = strnlen(t->name, sizeof t->name);
    if (len == 0 || len == sizeof t->name || !utf8_valid(t->name) ||
        strcmp(t->name, "__metadata__") == 0)
        return nl_fail(err, NL_ERR_USAGE,
                       "%s: tensor %d has a bad name (empty, too long, not "
                       "UTF-8 or __metadata__)",
                       path, i);
    if ((int)t->dtype < 0 || (int)t->dtype >= N_DTYPES)
        return nl_fail(err, NL_ERR_USAGE, "%s: tensor %s: unknown dtype %d", path, t->name,
                       (int)t->dtype);
    return nl_check_tensor_shape(path, t->name, t->ndim, MAX_NDIM, t->shape, t->numel, t->data,
                                 dtype_sizes[t->dtype], bytes, err);
}

/* The JSON header for the tensors laid out back to back in the given order, padded with
 * spaces to a multiple of 8 bytes so that the data starts 8-aligned. */
static int build_header(const char *path, const nl_st_tensor *tensors, int n,
                        const char *const *meta_keys, const char *const *meta_vals, int n_meta,
                        nl_jbuf *b, nl_error *err)
{
    nl_jbuf_puts(b, "{");
    if (n_meta > 0) {
        nl_jbuf_puts(b, "\"__metadata__\":{");
        for (int i = 0; i < n_meta; i++) {
            if (i)
                nl_jbuf_puts(b, ",");
            nl_jbuf_put_string(b, meta_keys[i], strlen(meta_keys[i]));
            nl_jbuf_puts(b, ":");
            nl_jbuf_put_string(b, meta_vals[i], strlen(meta_vals[i]));
        }
        nl_jbuf_puts(b, "}");
    }
    uint64_t offset = 0;
    for (int i = 0; i < n; i++) {
        const nl_st_tensor *t = &tensors[i];
        uint64_t bytes = (uint64_t)t->numel * dtype_sizes[t->dtype];
        if (i || n_meta > 0)
            nl_jbuf_puts(b, ",");
        nl_jbuf_put_string(b, t->name, strlen(t->name));
        nl_jbuf_printf(b, ":{\"dtype\":\"%s\",\"shape\":[", dtype_names[t->dtype]);
        for (int d = 0; d < t->ndim; d++)
            nl_jbuf_printf(b, d ? ",%lld" : "%lld", (long long)t->shape[d]);
        nl_jbuf_printf(b, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)offset,
                       (unsigned long long)(offset + bytes));
        offset += bytes;
    }
    nl_jbuf_puts(b, "}");
    while (!b->oom && b->n % 8 != 0)
        nl_jbuf_puts(b, " ");
    return b->oom ? nl_fail(err, NL_ERR_IO, "%s: out of memory", path) : 0;
}

int nl_st_write(const char *path, const nl_st_tensor *tensors, int n, const char *const *meta_keys,
                const char *const *meta_vals, int n_meta, nl_error *err)
{
    if (n < 0 || (n > 0 && !tensors) || n_meta < 0 || (n_meta > 0 && (!meta_keys || !meta_vals)))
        return nl_fail(err, NL_ERR_USAGE, "%s: bad tensor or metadata list", path);
    for (int i = 0; i < n_meta; i++) {
        if (!meta_keys[i] || !meta_vals[i] || !utf8_valid(meta_keys[i]) ||
            !utf8_valid(meta_vals[i]))
            return nl_fail(err, NL_ERR_USAGE, "%s: metadata entry %d is missing or not UTF-8", path,
                           i);
    }
    int oom;
    const char *dup = first_duplicate((const char **)meta_keys, (size_t)n_meta, &oom);
    if (!oom && dup)
        return nl_fail(err, NL_ERR_USAGE, "%s: metadata key \"%s\" given twice", path, dup);
    const char **names = nl_malloc((n ? (size_t)n : 1) * sizeof *names);
    if (oom || !names) {
        free(names);
        return nl_fail(err, NL_ERR_IO, "%s: out of memory", path);
    }
    for (int i = 0; i < n; i++) {
        uint64_t bytes = 0; /* checked here, recomputed by build_header */
        int rc = check_tensor(path, &tensors[i], i, &bytes, err);
        if (rc) {
            free(names);
            return rc;
        }
        names[i] = tensors[i].name;
    }
    dup = first_duplicate(names, (size_t)n, &oom);
    free(names);
    if (oom)
        return nl_fail(err, NL_ERR_IO, "%s: out of memory", path);
    if (dup)
        return nl_fail(err, NL_ERR_USAGE, "%s: tensor \"%s\" given twice", path, dup);

    nl_jbuf b = {0};
    int rc = build_header(path, tensors, n, meta_keys, meta_vals, n_meta, &b, err);
    if (rc) {
        nl_jbuf_free(&b);
        return rc;
    }
    nl_afile f;
    if ((rc = nl_afile_open(&f, path, err))) {
        nl_jbuf_free(&b);
        return rc;
    }
    unsigned char len8[8];
    nl_put_u64le(len8, b.n);
    rc = nl_afile_write(&f, len8, 8, err);
    if (!rc)
        rc = nl_afile_write(&f, b.p, b.n, err);
    for (int i = 0; !rc && i < n; i++)
        rc = nl_afile_write(&f, tensors[i].data,
                            (size_t)tensors[i].numel * dtype_sizes[tensors[i].dtype], err);
    nl_jbuf_free(&b);
    if (rc) {
        nl_afile_abort(&f);
        return rc;
    }
    return nl_afile_commit(&f, err);
}
