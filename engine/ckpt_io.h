/* Private helpers shared by the checkpoint and safetensors code: little-endian fields, a
 * 64-bit checksum and bounds-checked reads (atomic replacement is in fsutil.h). Not part of
 * the engine's public API. */
#ifndef NL_CKPT_IO_H
#define NL_CKPT_IO_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "fsutil.h"

/* Both file formats store little-endian values and the payloads are written straight from
 * host memory, so a big-endian host would need byte swaps that nothing here does. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "normlab's file formats assume a little-endian host");

static inline void nl_put_u32le(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}
static inline void nl_put_u64le(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}
static inline uint32_t nl_get_u32le(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}
static inline uint64_t nl_get_u64le(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* A streaming 64-bit checksum (docs/FORMATS.md, "checksum"). Four independent lanes each take
 * every fourth 8-byte word through a step that is a bijection of the word, so any change
 * confined to one word always changes the result; wider damage goes unnoticed with
 * probability about 2^-64. Not a cryptographic hash. */
typedef struct nl_hash64_state {
    uint64_t lane[4];
    uint64_t total;         /* bytes fed so far */
    unsigned char pend[32]; /* bytes of an incomplete 32-byte stripe */
    size_t npend;
} nl_hash64_state;

void nl_hash64_init(nl_hash64_state *h);
void nl_hash64_update(nl_hash64_state *h, const void *data, size_t n);
uint64_t nl_hash64_final(const nl_hash64_state *h);
uint64_t nl_hash64(const void *data, size_t n); /* one-shot */

/* The shape checks both writers make on a tensor `name` before writing it: ndim in
 * 0..max_ndim, no negative dimension, a size that fits in int64 bytes, numel equal to the
 * product of the shape, and data present when numel > 0. *bytes receives numel * esize.
 * Errors name the file and the tensor. */
int nl_check_tensor_shape(const char *path, const char *name, int ndim, int max_ndim,
                          const int64_t *shape, int64_t numel, const void *data, size_t esize,
                          uint64_t *bytes, nl_error *err);

/* Open path for reading; fails unless it is a regular file. *size receives its length. */
int nl_open_read(const char *path, int *fd, uint64_t *size, nl_error *err);
/* Read exactly n bytes at offset (the caller has checked offset + n against the size). */
int nl_pread_all(int fd, const char *path, void *buf, size_t n, uint64_t offset, nl_error *err);

#endif
