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

/* ---- atomic replacement ------------------------------------------------------------------ */

static void afile_release(nl_afile *f)
{
    free(f->path);
    free(f->tmp_path);
    f->path = f->tmp_path = NULL;
    f->fd = -1;
}

int nl_afile_open(nl_afile *f, const char *path, nl_error *err)
{
    size_t n = strlen(path);
    f->fd = -1;
    f->path = malloc(n + 1);
    f->tmp_path = malloc(n + 5);
    if (!f->path || !f->tmp_path) {
        afile_release(f);
        return nl_fail(err, NL_ERR_IO, "%s: out of memory", path);
    }
    memcpy(f->path, path, n + 1);
    memcpy(f->tmp_path, path, n);
    memcpy(f->tmp_path + n, ".tmp", 5);
    f->fd = open(f->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (f->fd < 0) {
        int e = errno;
        nl_fail(err, NL_ERR_IO, "%s: cannot create %s: %s", path, f->tmp_path, strerror(e));
        afile_release(f);
        return NL_ERR_IO;
    }
    return 0;
}

/* Write all n bytes, at offset (pwrite) when positioned, else at the file position. */
static int afile_write_all(nl_afile *f, const void *buf, size_t n, int positioned, uint64_t offset,
                           nl_error *err)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = positioned ? pwrite(f->fd, p, n, (off_t)offset) : write(f->fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return nl_fail(err, NL_ERR_IO, "%s: write failed: %s", f->path,
                           w < 0 ? strerror(errno) : "no progress");
        p += w;
        n -= (size_t)w;
        offset += (uint64_t)w;
    }
    return 0;
}

int nl_afile_pwrite(nl_afile *f, const void *buf, size_t n, uint64_t offset, nl_error *err)
{
    return afile_write_all(f, buf, n, 1, offset, err);
}

int nl_afile_write(nl_afile *f, const void *buf, size_t n, nl_error *err)
{
    return afile_write_all(f, buf, n, 0, 0, err);
}

void nl_afile_abort(nl_afile *f)
{
    if (f->fd >= 0)
        close(f->fd);
    if (f->tmp_path)
        unlink(f->tmp_path);
    afile_release(f);
}

/* Make the rename durable. Some file systems cannot fsync a directory (EINVAL); that is
 * not an error worth failing a finished write for. */
static int fsync_parent_dir(const char *path, nl_error *err)
{
    const char *slash = strrchr(path, '/');
    char *dir;
    if (!slash) {
        dir = strdup(".");
    } else {
        size_t n = slash == path ? 1 : (size_t)(slash - path);
        dir = strndup(path, n);
    }
    if (!dir)
        return nl_fail(err, NL_ERR_IO, "%s: out of memory", path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = 0;
    if (fd >= 0) {
        if (fsync(fd) != 0 && errno != EINVAL && errno != ENOTSUP && errno != EROFS)
            rc = nl_fail(err, NL_ERR_IO, "%s: written, but syncing directory %s failed: %s", path,
                         dir, strerror(errno));
        close(fd);
    }
    free(dir);
    return rc;
}

int nl_afile_commit(nl_afile *f, nl_error *err)
{
    if (fsync(f->fd) != 0) {
        nl_fail(err, NL_ERR_IO, "%s: fsync failed: %s", f->path, strerror(errno));
        nl_afile_abort(f);
        return NL_ERR_IO;
    }
    int fd = f->fd;
    f->fd = -1;
    if (close(fd) != 0) {
        nl_fail(err, NL_ERR_IO, "%s: close failed: %s", f->path, strerror(errno));
        nl_afile_abort(f);
        return NL_ERR_IO;
    }
    if (rename(f->tmp_path, f->path) != 0) {
        nl_fail(err, NL_ERR_IO, "%s: cannot rename %s over it: %s", f->path, f->tmp_path,
                strerror(errno));
        nl_afile_abort(f);
        return NL_ERR_IO;
    }
    int rc = fsync_parent_dir(f->path, err);
    afile_release(f);
    return rc;
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
