/* safetensors files: round trips with awkward metadata, files laid out the way the reference
 * Python writer lays them out, and refusal of malformed headers. */
#include <errno.h>
#include <ftw.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/json_text.h"
#include "engine/safetensors.h"
#include "t.h"

static char tmpdir[256];

static void tmp_path(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", tmpdir, name);
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static unsigned char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc(n > 0 ? (size_t)n : 1);
    *len = fread(buf, 1, (size_t)n, f);
    fclose(f);
    return buf;
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* Writes an 8-byte length (header_len, or strlen(header) when header_len is -1), the header
 * text and data_len bytes of data. */
static void write_st(const char *path, const char *header, long long header_len,
                     const unsigned char *data, size_t data_len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return;
    unsigned char len8[8];
    put_u64(len8, header_len < 0 ? strlen(header) : (uint64_t)header_len);
    fwrite(len8, 1, 8, f);
    fwrite(header, 1, strlen(header), f);
    if (data_len)
        fwrite(data, 1, data_len, f);
    fclose(f);
}

/* The file test_roundtrip_metadata writes: an 8-aligned header of JSON without raw newlines,
 * padded with spaces, then the 24 + 16 + 8 + 32 data bytes of its tensors. */
static void check_written_layout(const char *path)
{
    size_t len = 0;
    unsigned char *bytes = read_all(path, &len);
    T_CHECK(bytes && len >= 8, "file missing");
    if (bytes && len >= 8) {
        uint64_t hlen = 0;
        for (int i = 7; i >= 0; i--)
            hlen = (hlen << 8) | bytes[i];
        T_CHECK(hlen % 8 == 0, "header length %llu is not a multiple of 8",
                (unsigned long long)hlen);
        T_CHECK(8 + hlen + 24 + 16 + 8 + 32 == len, "file length %zu", len);
        T_CHECK(bytes[8] == '{', "header does not start with '{'");
        T_CHECK(memchr(bytes + 8, '\n', hlen) == NULL, "a raw newline in the header");
        size_t last = 8 + hlen - 1;
        while (last > 8 && bytes[last] == ' ')
            last--;
        T_CHECK(bytes[last] == '}', "header padded with something other than spaces");
    }
    free(bytes);
}

/* Read back what test_roundtrip_metadata wrote: its five tensors t and its metadata. */
static void check_read_back(const char *path, const nl_st_tensor *t, const char *config)
{
    nl_st_file f;
    nl_error err = {0};
    int rc = nl_st_read(path, &f, &err);
    T_CHECK(rc == 0, "read: %s", err.msg);
    if (rc)
        return;
    T_CHECK(f.n_tensors == 5, "n_tensors %d", f.n_tensors);
    for (int i = 0; i < 5 && i < f.n_tensors; i++) {
        const nl_st_tensor *g = &f.tensors[i];
        T_CHECK(strcmp(g->name, t[i].name) == 0, "tensor %d is %s, expected %s", i, g->name,
                t[i].name);
        T_CHECK(g->dtype == t[i].dtype && g->ndim == t[i].ndim && g->numel == t[i].numel,
                "tensor %s dtype/ndim/numel", t[i].name);
        for (int d = 0; d < t[i].ndim; d++)
            T_CHECK(g->shape[d] == t[i].shape[d], "tensor %s dim %d", t[i].name, d);
        size_t bytes_i =
            (size_t)t[i].numel * (t[i].dtype == NL_ST_F64 || t[i].dtype == NL_ST_I64 ? 8 : 4);
        T_CHECK(g->data && (bytes_i == 0 || memcmp(g->data, t[i].data, bytes_i) == 0),
                "tensor %s data differs", t[i].name);
    }
    const char *c = nl_st_meta(&f, "config");
    T_CHECK(c && strcmp(c, config) == 0, "config metadata differs: %s", c ? c : "(absent)");
    T_CHECK(nl_st_meta(&f, "step") && strcmp(nl_st_meta(&f, "step"), "1234") == 0, "step metadata");
    T_CHECK(nl_st_meta(&f, "empty") && nl_st_meta(&f, "empty")[0] == '\0', "empty metadata value");
    T_CHECK(nl_st_meta(&f, "absent") == NULL, "absent metadata key found");
    T_CHECK(nl_st_find(&f, "i64") == &f.tensors[3], "find i64");
    T_CHECK(nl_st_find(&f, "nope") == NULL, "find of an absent name");
    nl_st_free(&f);
    T_CHECK(f.tensors == NULL && f.meta_keys == NULL, "free leaves a zeroed struct");
}

static void test_roundtrip_metadata(void)
{
    float f32[6] = {1.5f, -2.25f, 3e-38f, 0.0f, -0.0f, 65504.0f};
    int32_t i32[4] = {0, -1, INT32_MAX, INT32_MIN};
    double f64[1] = {3.141592653589793};
    int64_t i64[4] = {INT64_MIN, -2, 3, INT64_MAX};
    nl_st_tensor t[5] = {
        {.name = "wte.weight",
         .dtype = NL_ST_F32,
         .ndim = 2,
         .shape = {2, 3},
         .numel = 6,
         .data = f32},
        {.name = "blocks.0.ids",
         .dtype = NL_ST_I32,
         .ndim = 1,
         .shape = {4},
         .numel = 4,
         .data = i32},
        {.name = "scalar \"quoted\"", .dtype = NL_ST_F64, .ndim = 0, .numel = 1, .data = f64},
        {.name = "i64", .dtype = NL_ST_I64, .ndim = 2, .shape = {2, 2}, .numel = 4, .data = i64},
        {.name = "empty", .dtype = NL_ST_F32, .ndim = 2, .shape = {0, 5}, .numel = 0, .data = NULL},
    };
    const char *config =
        "model:\n  name: \"q\\\"uote\"\n  note: caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80\n"
        "\tctl: \x01\x1f\x7f / \\end\r\n";
    const char *keys[] = {"config", "step", "empty"};
    const char *vals[] = {config, "1234", ""};
    char path[512], tmp[600];
    tmp_path(path, sizeof path, "rt.safetensors");
    nl_error err = {0};
    int rc = nl_st_write(path, t, 5, keys, vals, 3, &err);
    T_CHECK(rc == 0, "write: %s", err.msg);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    T_CHECK(!file_exists(tmp), "temp file left behind");

    check_written_layout(path);

    check_read_back(path, t, config);
}

/* A file as the reference Python writer lays it out (no spaces, metadata first, the header
 * padded with spaces to 8 bytes, tensors sorted by dtype size then name), here with \u and
 * \/ escapes and a little whitespace inside the JSON too. */
static void test_reference_layout(void)
{
    const char *header =
        "{\"__metadata__\":{\"format\":\"pt\",\"note\":\"caf\\u00e9 \\ud83d\\ude00 a\\/b\\tc\"},"
        "\"b\":{\"dtype\":\"I64\",\"shape\":[3],\"data_offsets\":[0,24]},"
        "\"c\": {\"dtype\": \"F64\", \"shape\": [], \"data_offsets\": [24, 32]},\n"
        "\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[32,48]},"
        "\"d\":{\"dtype\":\"I32\",\"shape\":[1,0],\"data_offsets\":[48,48]}}";
    size_t hlen = strlen(header), padded = (hlen + 7) / 8 * 8;
    char *h = malloc(padded + 1);
    memcpy(h, header, hlen);
    memset(h + hlen, ' ', padded - hlen);
    h[padded] = '\0';
    unsigned char data[48];
    put_u64(data + 0, (uint64_t)-7);
    put_u64(data + 8, 0);
    put_u64(data + 16, 1ull << 40);
    put_u64(data + 24, 0x400921FB54442D18ull); /* pi as float64 bits */
    const uint32_t a_bits[4] = {0x3F800000u, 0xC0000000u, 0x3EAAAAABu,
                                0x7F800000u}; /* 1 -2 1/3 inf */
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 4; k++)
            data[32 + 4 * i + k] = (unsigned char)(a_bits[i] >> (8 * k));
    char path[512];
    tmp_path(path, sizeof path, "ref.safetensors");
    write_st(path, h, -1, data, sizeof data);
    free(h);

    nl_st_file f;
    nl_error err = {0};
    int rc = nl_st_read(path, &f, &err);
    T_CHECK(rc == 0, "read: %s", err.msg);
    if (rc)
        return;
    T_CHECK(f.n_tensors == 4, "n_tensors %d", f.n_tensors);
    const nl_st_tensor *a = nl_st_find(&f, "a"), *b = nl_st_find(&f, "b"), *c = nl_st_find(&f, "c"),
                       *d = nl_st_find(&f, "d");
    T_CHECK(a && b && c && d, "a tensor is missing");
    if (a && b && c && d) {
        T_CHECK(f.tensors[0].name[0] == 'b' && f.tensors[2].name[0] == 'a', "file order not kept");
        T_CHECK(a->dtype == NL_ST_F32 && a->ndim == 2 && a->shape[0] == 2 && a->shape[1] == 2 &&
                    a->numel == 4,
                "a's info");
        const float *av = a->data;
        T_CHECK(av[0] == 1.0f && av[1] == -2.0f && av[2] == 1.0f / 3.0f && isinf(av[3]),
                "a's values");
        const int64_t *bv = b->data;
        T_CHECK(b->dtype == NL_ST_I64 && b->numel == 3 && bv[0] == -7 && bv[1] == 0 &&
                    bv[2] == (int64_t)1 << 40,
                "b's values");
        T_CHECK(c->dtype == NL_ST_F64 && c->ndim == 0 && c->numel == 1 &&
                    *(const double *)c->data == 3.141592653589793,
                "c's value");
        T_CHECK(d->dtype == NL_ST_I32 && d->ndim == 2 && d->numel == 0, "d's info");
    }
    T_CHECK(nl_st_meta(&f, "format") && strcmp(nl_st_meta(&f, "format"), "pt") == 0, "format");
    const char *note = nl_st_meta(&f, "note");
    T_CHECK(note && strcmp(note, "caf\xc3\xa9 \xf0\x9f\x98\x80 a/b\tc") == 0, "note decoded as %s",
            note ? note : "(absent)");
    nl_st_free(&f);
}

typedef struct bad_case {
    const char *header;
    const char *want; /* in the message */
} bad_case;

/* Malformed JSON, strings and metadata in the header. */
static const bad_case json_cases[] = {
    {"{'a':1}", "bad safetensors header at byte 9: expected a quoted key"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},}",
     "at byte 62: expected a quoted key"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", "expected ',' or '}'"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2,],\"data_offsets\":[0,8]}}", "unexpected ']'"},
    {"{\"a\" {}}", "expected ':'"},
    {"{\"a\x01\":1}", "control character 0x01"},
    {"{\"__metadata__\":{\"k\":\"line\nbreak\"}}", "control character 0x0a"},
    {"{\"__metadata__\":{\"k\":\"\\x41\"}}", "unknown escape \\x"},
    {"{\"__metadata__\":{\"k\":\"\\ud800\"}}", "high surrogate"},
    {"{\"__metadata__\":{\"k\":\"\\ud800\\u0041\"}}", "high surrogate"},
    {"{\"__metadata__\":{\"k\":\"\\udc00\"}}", "low surrogate"},
    {"{\"__metadata__\":{\"k\":\"\\u12G4\"}}", "four hex digits"},
    {"{\"__metadata__\":{\"k\":\"\\u12\"}}", "four hex digits"},
    {"{\"__metadata__\":{\"k\":\"\xc3\x28\"}}", "invalid UTF-8"},
    {"{\"__metadata__\":{\"k\":\"\xc0\xaf\"}}", "invalid UTF-8"},
    {"{\"__metadata__\":{\"k\":\"\xed\xa0\x80\"}}", "invalid UTF-8"},
    {"{\"__metadata__\":{\"k\":\"\xf4\x90\x80\x80\"}}", "invalid UTF-8"},
    {"{\"__metadata__\":{\"k\":\"open}}", "string never ends"},
    {"{\"__metadata__\":{\"k\":1}}", "is not a string"},
    {"{\"__metadata__\":[]}", "is not an object"},
    {"{\"__metadata__\":{},\"__metadata__\":{}}", "__metadata__ appears twice"},
    {"{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", "key \"k\" appears twice"},
    {"{\"__metadata__\":{\"k\":\"a\\u0000b\"}}", "NUL"},
    {"[1,2]", "not a JSON object"},
    {"\"text\"", "not a JSON object"},
    {"{} x", "unexpected 'x' after the value"},
    {"{}}", "after the value"},
    {"{\"a\":tru}", "unexpected 't'"},
    {"{\"a\":nul}", "unexpected 'n'"},
    {"{\"a\":@}", "unexpected '@'"},
    {"", "unexpected end"},
    {"   ", "unexpected end"},
    {"{", "expected a quoted key, found the end"},
};

/* Well-formed JSON with a bad tensor entry. */
static const bad_case tensor_cases[] = {
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[02],\"data_offsets\":[0,8]}}", "leading zeros"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}",
     "shape entry at byte 37"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", "shape entry"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1e1],\"data_offsets\":[0,8]}}", "shape entry"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2.],\"data_offsets\":[0,8]}}", "decimal point"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2e],\"data_offsets\":[0,8]}}", "exponent"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-],\"data_offsets\":[0,8]}}", "needs digits"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]}}", "not an array"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}",
     "at most 8"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", "lacks \"data_offsets\""},
    {"{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", "lacks \"dtype\""},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":1}}",
     "unknown field \"x\""},
    {"{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
     "appears twice"},
    {"{\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}", "dtype F16"},
    {"{\"a\":{\"dtype\":32,\"shape\":[2],\"data_offsets\":[0,8]}}", "dtype at byte"},
    {"{\"a\":[1]}", "expected an object"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}",
     "outside the 16 data bytes"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", "outside"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,16]}}", "hold 16 bytes"},
    {"{\"a\":{\"dtype\":\"F64\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":["
     "0,16]}}",
     "need more than"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,99999999999999999999]}}",
     "not [begin, end]"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", "not [begin, end]"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
     "overlap"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
     "\"a\" appears twice"},
    {"{\"\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", "empty"},
};

/* Each header must be refused with a message naming the file and saying what is wrong. */
static void check_malformed(const char *what, const bad_case *cases, size_t n)
{
    unsigned char data[16] = {0};
    char path[512];
    tmp_path(path, sizeof path, "bad.safetensors");
    for (size_t i = 0; i < n; i++) {
        write_st(path, cases[i].header, -1, data, sizeof data);
        nl_st_file f;
        nl_error err = {0};
        int rc = nl_st_read(path, &f, &err);
        T_CHECK(rc == NL_ERR_USAGE, "%s case %zu (%s) accepted or rc %d", what, i, cases[i].header,
                rc);
        T_CHECK(rc == 0 || strstr(err.msg, path), "%s case %zu: message does not name the file",
                what, i);
        T_CHECK(rc == 0 || strstr(err.msg, cases[i].want), "%s case %zu: \"%s\" lacks \"%s\"", what,
                i, err.msg, cases[i].want);
        T_CHECK(f.tensors == NULL && f.meta_keys == NULL, "%s case %zu left allocations", what, i);
        if (rc == 0)
            nl_st_free(&f);
    }
}

static void test_malformed(void)
{
    check_malformed("json", json_cases, sizeof json_cases / sizeof json_cases[0]);
    check_malformed("tensor", tensor_cases, sizeof tensor_cases / sizeof tensor_cases[0]);
}

static void test_nesting_and_sizes(void)
{
    char path[512];
    tmp_path(path, sizeof path, "deep.safetensors");
    char deep[400];
    int k = snprintf(deep, sizeof deep, "{\"__metadata__\":");
    for (int i = 0; i < 100; i++)
        deep[k++] = '[';
    for (int i = 0; i < 100; i++)
        deep[k++] = ']';
    deep[k++] = '}';
    deep[k] = '\0';
    write_st(path, deep, -1, NULL, 0);
    nl_st_file f;
    nl_error err = {0};
    int rc = nl_st_read(path, &f, &err);
    T_CHECK(rc == NL_ERR_USAGE && strstr(err.msg, "nested deeper"), "deep nesting: %s", err.msg);

    const char *ok = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    write_st(path, ok, 1000, NULL, 0); /* header length past the end */
    rc = nl_st_read(path, &f, &err);
    T_CHECK(rc == NL_ERR_USAGE && strstr(err.msg, "runs past the end"), "long header: %s", err.msg);
    write_st(path, ok, -1, (const unsigned char *)"1234567", 7); /* data one byte short */
    rc = nl_st_read(path, &f, &err);
    T_CHECK(rc == NL_ERR_USAGE && strstr(err.msg, "outside the 7 data bytes"), "short data: %s",
            err.msg);
    write_st(path, ok, -1, (const unsigned char *)"12345678", 8);
    rc = nl_st_read(path, &f, &err);
    T_CHECK(rc == 0, "exact data: %s", err.msg);
    nl_st_free(&f);

    FILE *fp = fopen(path, "wb");
    fwrite("\x10\0\0\0\0", 1, 5, fp);
    fclose(fp);
    rc = nl_st_read(path, &f, &err);
    T_CHECK(rc == NL_ERR_USAGE && strstr(err.msg, "too short"), "5-byte file: %s", err.msg);
    tmp_path(path, sizeof path, "missing.safetensors");
    rc = nl_st_read(path, &f, &err);
    T_CHECK(rc == NL_ERR_IO && strstr(err.msg, path), "missing file: %s", err.msg);
}

static void test_write_rejects(void)
{
    float x[2] = {1, 2};
    nl_st_tensor t[2] = {
        {.name = "a", .dtype = NL_ST_F32, .ndim = 1, .shape = {2}, .numel = 2, .data = x},
        {.name = "a", .dtype = NL_ST_F32, .ndim = 1, .shape = {2}, .numel = 2, .data = x},
    };
    char path[512];
    tmp_path(path, sizeof path, "rejected.safetensors");
    nl_error err = {0};
    T_CHECK(nl_st_write(path, t, 2, NULL, NULL, 0, &err) == NL_ERR_USAGE &&
                strstr(err.msg, "given twice"),
            "duplicate names: %s", err.msg);
    snprintf(t[1].name, sizeof t[1].name, "__metadata__");
    T_CHECK(nl_st_write(path, t, 2, NULL, NULL, 0, &err) == NL_ERR_USAGE, "__metadata__ as a name");
    snprintf(t[1].name, sizeof t[1].name, "b");
    t[1].numel = 3;
    T_CHECK(nl_st_write(path, t, 2, NULL, NULL, 0, &err) == NL_ERR_USAGE &&
                strstr(err.msg, "numel"),
            "numel mismatch: %s", err.msg);
    t[1].numel = 2;
    t[1].dtype = (nl_st_dtype)7;
    T_CHECK(nl_st_write(path, t, 2, NULL, NULL, 0, &err) == NL_ERR_USAGE, "dtype 7 accepted");
    t[1].dtype = NL_ST_F32;
    const char *keys[] = {"k", "k"}, *vals[] = {"1", "\xff"};
    T_CHECK(nl_st_write(path, t, 2, keys, vals, 2, &err) == NL_ERR_USAGE &&
                strstr(err.msg, "UTF-8"),
            "invalid UTF-8 metadata: %s", err.msg);
    vals[1] = "2";
    T_CHECK(nl_st_write(path, t, 2, keys, vals, 2, &err) == NL_ERR_USAGE &&
                strstr(err.msg, "twice"),
            "duplicate metadata keys: %s", err.msg);
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    T_CHECK(!file_exists(path) && !file_exists(tmp), "a refused write left a file");
    T_CHECK(nl_st_write(path, t, 2, keys, vals, 1, &err) == 0, "valid write: %s", err.msg);
    tmp_path(path, sizeof path, "no/such/dir/x.safetensors");
    T_CHECK(nl_st_write(path, t, 2, NULL, NULL, 0, &err) == NL_ERR_IO && strstr(err.msg, path),
            "missing directory: %s", err.msg);
}

static void test_json_values(void)
{
    nl_json v;
    size_t at;
    char why[128];
    const char *text =
        " [0, -0, 12, -9223372036854775808, 9223372036854775807, 9223372036854775808,"
        " 1.5, -2e-3, true, false, null, \"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0041\\u00e9\", {}] ";
    int rc = nl_json_parse(text, strlen(text), &v, &at, why, sizeof why);
    T_CHECK(rc == 0, "parse failed at %zu: %s", at, why);
    if (rc)
        return;
    T_CHECK(v.kind == NL_JSON_ARRAY && v.len == 13, "array of %zu", v.len);
    if (v.len == 13) {
        T_CHECK(v.items[0].is_int && v.items[0].i == 0, "0");
        T_CHECK(v.items[1].is_int && v.items[1].i == 0, "-0");
        T_CHECK(v.items[2].is_int && v.items[2].i == 12, "12");
        T_CHECK(v.items[3].is_int && v.items[3].i == INT64_MIN, "INT64_MIN");
        T_CHECK(v.items[4].is_int && v.items[4].i == INT64_MAX, "INT64_MAX");
        T_CHECK(v.items[5].kind == NL_JSON_NUMBER && !v.items[5].is_int, "2^63 is not an int64");
        T_CHECK(v.items[6].kind == NL_JSON_NUMBER && !v.items[6].is_int, "1.5");
        T_CHECK(v.items[7].kind == NL_JSON_NUMBER && !v.items[7].is_int, "-2e-3");
        T_CHECK(v.items[8].kind == NL_JSON_BOOL && v.items[8].boolean, "true");
        T_CHECK(v.items[9].kind == NL_JSON_BOOL && !v.items[9].boolean, "false");
        T_CHECK(v.items[10].kind == NL_JSON_NULL, "null");
        T_CHECK(v.items[11].kind == NL_JSON_STRING &&
                    strcmp(v.items[11].str, "\"\\/\b\f\n\r\tA\xc3\xa9") == 0,
                "escapes: %s", v.items[11].str);
        T_CHECK(v.items[12].kind == NL_JSON_OBJECT && v.items[12].len == 0, "{}");
        T_CHECK(v.items[2].offset == 9, "offset of 12 is %zu", v.items[2].offset);
    }
    nl_json_free(&v);
    /* what the escaper writes, the parser reads back */
    const char raw[] = "a\"b\\c\nd\x01\x1f\xc3\xa9\xf0\x9f\x98\x80\x7f";
    nl_jbuf b = {0};
    nl_jbuf_put_string(&b, raw, sizeof raw - 1);
    T_CHECK(!b.oom &&
                strcmp(b.p, "\"a\\\"b\\\\c\\nd\\u0001\\u001f\xc3\xa9\xf0\x9f\x98\x80\x7f\"") == 0,
            "escaped as %s", b.p);
    rc = nl_json_parse(b.p, b.n, &v, &at, why, sizeof why);
    T_CHECK(rc == 0 && v.kind == NL_JSON_STRING && v.len == sizeof raw - 1 &&
                memcmp(v.str, raw, sizeof raw - 1) == 0,
            "escaped string does not read back");
    nl_json_free(&v);
    nl_jbuf_free(&b);
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

int main(void)
{
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(tmpdir, sizeof tmpdir, "%s/nl-test-st-XXXXXX", base);
    if (!mkdtemp(tmpdir)) {
        printf("FAIL setup: mkdtemp %s: %s\n", tmpdir, strerror(errno));
        return 1;
    }
    T_RUN(test_json_values);
    T_RUN(test_roundtrip_metadata);
    T_RUN(test_reference_layout);
    T_RUN(test_malformed);
    T_RUN(test_nesting_and_sizes);
    T_RUN(test_write_rejects);
    nftw(tmpdir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
    T_END();
}
