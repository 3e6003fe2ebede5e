#include "ckpt_io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- checksum ---------------------------------------------------------------------------- */

#define NL_H_K1 0x9E3779B97F4A7C15ull /* odd: multiplying by it is a bijection mod 2^64 */
#define NL_H_K2 0xD6E8FEB86659FD93ull

/* A bijection of w for a fixed lane value, and of the lane value for a fixed w. */
static inline uint64_t hash_step(uint64_t lane, uint64_t w)
{
    uint64_t x = (lane ^ w) * NL_H_K1;
    return x ^ (x >> 32);
}

static inline void hash_stripe(uint64_t lane[4], const unsigned char *p) /* p: 32 bytes */
{
    for (int i = 0; i < 4; i++) {
        uint64_t w;
        memcpy(&w, p + 8 * i, 8); /* little-endian host (ckpt_io.h) */
        lane[i] = hash_step(lane[i], w);
    }
}

void nl_hash64_init(nl_hash64_state *h)
{
    memset(h, 0, sizeof *h);
    for (int i = 0; i < 4; i++)
        h->lane[i] = NL_H_K2 * (uint64_t)(i + 1);
}

void nl_hash64_update(nl_hash64_state *h, const void *data, size_t n)
{
    const unsigned char *p = data;
    h->total += n;
    if (h->npend) {
        size_t take = 32 - h->npend < n ? 32 - h->npend : n;
        memcpy(h->pend + h->npend, p, take);
        h->npend += take;
        p += take;
        n -= take;
        if (h->npend < 32)
            return;
        hash_stripe(h->lane, h->pend);
        h->npend = 0;
    }
    for (; n >= 32; p += 32, n -= 32)
        hash_stripe(h->lane, p);
    if (n) {
        memcpy(h->pend, p, n);
        h->npend = n;
    }
}

uint64_t nl_hash64_final(const nl_hash64_state *h)
{
    uint64_t lane[4];
    memcpy(lane, h->lane, sizeof lane);
    if (h->npend) { /* zero-padded last stripe; the length below tells the padding apart */
        unsigned char last[32] = {0};
        memcpy(last, h->pend, h->npend);
        hash_stripe(lane, last);
    }
    uint64_t x = h->total * NL_H_K2;
    for (int i = 0; i < 4; i++)
        x = hash_step(x, lane[i]);
    x ^= x >> 31;
    x *= NL_H_K2;
    x ^= x >> 29;
    return x;
}

uint64_t nl_hash64(const void *data, size_t n)
{
    nl_hash64_state h;
    nl_hash64_init(&h);
    nl_hash64_update(&h, data, n);
    return nl_hash64_final(&h);
}

int nl_check_tensor_shape(const char *path, const char *name, int ndim, int max_ndim,
                          const int64_t *shape, int64_t numel, const void *data, size_t esize,
                          uint64_t *bytes, nl_error *err)
{
    if (ndim < 0 || ndim > max_ndim)
        return nl_fail(err, NL_ERR_USAGE, "%s: tensor %s: ndim %d is outside 0..%d", path, name,
                       ndim, max_ndim);
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0)
            return nl_fail(err, NL_ERR_USAGE, "%s: tensor %s: negative dimension %lld", path, name,
                           (long long)shape[d]);
        if (shape[d] && n > INT64_MAX / (int64_t)esize / shape[d])
            return nl_fail(err, NL_ERR_USAGE, "%s: tensor %s is too large", path, name);
        n *= shape[d];
    }
    if (n != numel)
        return nl_fail(err, NL_ERR_USAGE,
                       "%s: tensor %s: numel %lld does not match its shape (%lld)", path, name,
                       (long long)numel, (long long)n);
    if (n > 0 && !data)
        return nl_fail(err, NL_ERR_USAGE, "%s: tensor %s has no data", path, name);
    *bytes = (uint64_t)n * esize;
    return 0;
}

/* ---- reading ----------------------------------------------------------------------------- */

int nl_open_read(const char *path, int *fd, uint64_t *size, nl_error *err)
{
    /* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever,
     * before the regular-file check below could refuse it */
    *fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (*fd < 0)
        return nl_fail(err, NL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(*fd, &st) != 0) {
        int e = errno;
        close(*fd);
        *fd = -1;
        return nl_fail(err, NL_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(*fd);
        *fd = -1;
        return nl_fail(err, NL_ERR_IO, "%s: not a regular file", path);
    }
    int fl = fcntl(*fd, F_GETFL);
    if (fl != -1)
        fcntl(*fd, F_SETFL, fl & ~O_NONBLOCK);
    *size = (uint64_t)st.st_size;
    return 0;
}

int nl_pread_all(int fd, const char *path, void *buf, size_t n, uint64_t offset, nl_error *err)
{
    char *p = buf;
    while (n > 0) {
        ssize_t r = pread(fd, p, n, (off_t)offset);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return nl_fail(err, NL_ERR_IO, "%s: read failed: %s", path, strerror(errno));
        if (r == 0)
            return nl_fail(err, NL_ERR_IO, "%s: file shrank while being read (at byte %llu)", path,
                           (unsigned long long)offset);
        p += r;
        n -= (size_t)r;
        offset += (uint64_t)r;
    }
    return 0;
}
