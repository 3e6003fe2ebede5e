/* File-system helpers of the engine: every file the engine replaces goes through one atomic
 * write (temp file, fsync, rename, fsync of the directory), directories are made with one
 * mkdir -p, and small text files are read whole with one reader. */
#ifndef NL_FSUTIL_H
#define NL_FSUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* A file written to PATH.tmp and renamed over PATH by nl_afile_commit, so that PATH always
 * holds either the old or the complete new contents. */
typedef struct nl_afile {
    int fd;
    char *path;
    char *tmp_path;
} nl_afile;

int nl_afile_open(nl_afile *f, const char *path, nl_error *err);
int nl_afile_write(nl_afile *f, const void *buf, size_t n, nl_error *err);
int nl_afile_pwrite(nl_afile *f, const void *buf, size_t n, uint64_t offset, nl_error *err);
/* fsync, close, rename over the path, fsync the directory. On failure the temp file is
 * removed. Either way f is released. */
int nl_afile_commit(nl_afile *f, nl_error *err);
/* Close and remove the temp file (after a failure); safe to call on a released f. */
void nl_afile_abort(nl_afile *f);

/* The whole of buf (n bytes) as the new contents of path, atomically (nl_afile above). */
int nl_write_file_atomic(const char *path, const void *buf, size_t n, nl_error *err);

/* fsync the directory that holds path, so that a new name in it is durable (a file system
 * that cannot sync directories is no error). */
int nl_fsync_parent_dir(const char *path, nl_error *err);

/* mkdir -p: path and every missing parent (mode 0755). Errors name the directory. */
int nl_mkdir_p(const char *path, nl_error *err);

/* A whole file as a NUL-terminated string (malloc'ed, caller frees); *len (may be NULL)
 * receives its length. NULL when it cannot be read (errno says why). */
char *nl_read_file(const char *path, size_t *len);

#endif
