#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xalloc.h"

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
    f->path = nl_malloc(n + 1);
    f->tmp_path = nl_malloc(n + 5);
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
int nl_fsync_parent_dir(const char *path, nl_error *err)
{
    const char *slash = strrchr(path, '/');
    size_t n = !slash ? 1 : slash == path ? 1 : (size_t)(slash - path);
    char *dir = nl_malloc(n + 1);
    if (dir) {
        memcpy(dir, slash ? path : ".", n);
        dir[n] = '\0';
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
    int rc = nl_fsync_parent_dir(f->path, err);
    afile_release(f);
    return rc;
}

int nl_write_file_atomic(const char *path, const void *buf, size_t n, nl_error *err)
{
    nl_afile f;
    int rc = nl_afile_open(&f, path, err);
    if (rc)
        return rc;
    if ((rc = nl_afile_write(&f, buf, n, err))) {
        nl_afile_abort(&f);
        return rc;
    }
    return nl_afile_commit(&f, err);
}

int nl_mkdir_p(const char *path, nl_error *err)
{
    char *buf = nl_strdup(path);
    if (!buf)
        return nl_fail(err, NL_ERR_IO, "%s: out of memory", path);
    int rc = 0;
    for (char *p = buf + 1; *p && !rc; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) && errno != EEXIST)
            rc = nl_fail(err, NL_ERR_IO, "%s: cannot create directory: %s", buf, strerror(errno));
        *p = '/';
    }
    if (!rc && mkdir(buf, 0755) && errno != EEXIST)
        rc = nl_fail(err, NL_ERR_IO, "%s: cannot create directory: %s", buf, strerror(errno));
    free(buf);
    return rc;
}

char *nl_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0, got;
    char *s = nl_malloc(cap);
    while (s && (got = fread(s + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (n + 1 < cap)
            continue;
        char *g = nl_realloc(s, cap * 2);
        if (!g) {
            free(s);
            s = NULL;
            errno = ENOMEM;
            break;
        }
        s = g;
        cap *= 2;
    }
    if (s && ferror(f)) {
        free(s);
        s = NULL;
    }
    fclose(f);
    if (s) {
        s[n] = '\0';
        if (len)
            *len = n;
    }
    return s;
}
