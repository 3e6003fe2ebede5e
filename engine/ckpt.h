/* Checkpoints (docs/FORMATS.md): a versioned, self-describing, checksummed file.
 *
 *   header: magic "NLCKPT\0\0", version, flags, the config YAML text, step, an opaque run
 *           state blob (RNG, data position, counters), a tensor table (name, shape, numel,
 *           offset into the payload), and a checksum of the header;
 *   payload: the float32 arrays concatenated, zstd-compressed with the streaming API
 *           (multithreaded where libzstd offers it), with a 64-bit checksum of the
 *           uncompressed bytes.
 * Written to PATH.tmp, fsync'ed, renamed over PATH, directory fsync'ed. Every read is
 * bounds-checked: truncated, corrupted (bit flips), foreign or newer-version files are
 * refused with a message naming the file and what is wrong. */
#ifndef NL_CKPT_H
#define NL_CKPT_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define NL_CKPT_VERSION 1

typedef struct nl_ckpt_tensor {
    char name[128];
    int ndim;
    int64_t shape[4];
    int64_t numel;
    float *data; /* write: caller's host memory; read: owned by the nl_ckpt */
} nl_ckpt_tensor;

typedef struct nl_ckpt {
    int version;
    int64_t step;
    char *config_yaml;  /* NUL-terminated */
    void *state;        /* opaque run state */
    size_t state_len;
    int n_tensors;
    nl_ckpt_tensor *tensors;
} nl_ckpt;

/* Write ck (all fields set by the caller) to path atomically. threads: zstd workers
 * (0 = single-threaded). level: zstd level (e.g. 3). */
int nl_ckpt_write(const char *path, const nl_ckpt *ck, int level, int threads, nl_error *err);
/* Read the whole file. With header_only the tensor data is not read (data == NULL). */
int nl_ckpt_read(const char *path, nl_ckpt *out, int header_only, nl_error *err);
void nl_ckpt_free(nl_ckpt *ck); /* frees what nl_ckpt_read allocated */
const nl_ckpt_tensor *nl_ckpt_find(const nl_ckpt *ck, const char *name);

/* ---- the checkpoints of a directory (ckpt_dir.c) ---- */
/* Delete all but the newest `keep` files named ckpt-STEP.nlck in dir (keep >= 1). */
int nl_ckpt_prune(const char *dir, int keep, nl_error *err);
/* Delete every ckpt-STEP.nlck of dir (a run that starts over); a missing dir is no error. */
int nl_ckpt_remove_all(const char *dir, nl_error *err);
/* Delete the ckpt-STEP.nlck.tmp files (checkpoints whose writer was killed) of dir, calling
 * removed (may be NULL) with each name. Returns how many were removed. */
int nl_ckpt_remove_unfinished(const char *dir, void (*removed)(void *ctx, const char *name),
                              void *ctx);
/* The name of the highest-step regular file ckpt-STEP.nlck in dir into name (len bytes).
 * Returns 1 when there is one, 0 when there is none (or dir cannot be read). */
int nl_ckpt_newest(const char *dir, char *name, size_t len);

#endif
