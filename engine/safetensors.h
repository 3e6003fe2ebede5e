/* The safetensors format: an 8-byte little-endian header length, a JSON header mapping each
 * tensor name to {dtype, shape, data_offsets} (plus "__metadata__": string to string), then
 * the raw little-endian data. Used by `normlab export` and to read the PyTorch fixtures. */
#ifndef NL_SAFETENSORS_H
#define NL_SAFETENSORS_H

#include <stdint.h>

#include "error.h"

typedef enum { NL_ST_F32 = 0, NL_ST_I32, NL_ST_F64, NL_ST_I64 } nl_st_dtype;

typedef struct nl_st_tensor {
    char name[160];
    nl_st_dtype dtype;
    int ndim;
    int64_t shape[8];
    int64_t numel;
    void *data; /* owned by the file object */
} nl_st_tensor;

typedef struct nl_st_file {
    int n_tensors;
    nl_st_tensor *tensors;
    int n_meta;
    char **meta_keys, **meta_vals;
} nl_st_file;

/* Read and validate a whole file (bounds-checked; errors name the file and what is wrong). */
int nl_st_read(const char *path, nl_st_file *out, nl_error *err);
void nl_st_free(nl_st_file *f);
const nl_st_tensor *nl_st_find(const nl_st_file *f, const char *name);
const char *nl_st_meta(const nl_st_file *f, const char *key); /* NULL when absent */

/* Write tensors (in the order given) and metadata; data is written as given (host memory).
 * Written to PATH.tmp, fsync'ed and renamed. */
int nl_st_write(const char *path, const nl_st_tensor *tensors, int n, const char *const *meta_keys,
                const char *const *meta_vals, int n_meta, nl_error *err);

#endif
