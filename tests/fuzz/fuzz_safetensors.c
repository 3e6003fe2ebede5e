/* The safetensors reader: any bytes are read or refused with the file named; what is read
 * has tensors whose sizes agree with their shapes. */
#include <stdint.h>
#include <string.h>

#include "engine/safetensors.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fz_write("in.safetensors", data, size, "wb");
    nl_st_file f;
    nl_error err = {0};
    if (nl_st_read(path, &f, &err)) {
        FZ_ASSERT(strstr(err.msg, "in.safetensors"), "message '%s'", err.msg);
        return 0;
    }
    for (int i = 0; i < f.n_tensors; i++) {
        const nl_st_tensor *t = &f.tensors[i];
        int64_t n = 1;
        for (int d = 0; d < t->ndim; d++)
            n *= t->shape[d];
        FZ_ASSERT(n == t->numel, "tensor %s: numel %lld, shape product %lld", t->name,
                  (long long)t->numel, (long long)n);
        FZ_ASSERT(nl_st_find(&f, t->name) != NULL, "tensor %s not found by name", t->name);
        /* touch the data: ASan reports a buffer shorter than numel */
        if (t->numel > 0) {
            size_t es = t->dtype == NL_ST_F64 || t->dtype == NL_ST_I64 ? 8 : 4;
            volatile unsigned char x = ((unsigned char *)t->data)[es * (size_t)t->numel - 1];
            (void)x;
        }
    }
    for (int i = 0; i < f.n_meta; i++)
        FZ_ASSERT(nl_st_meta(&f, f.meta_keys[i]) != NULL, "meta %s not found", f.meta_keys[i]);
    nl_st_free(&f);
    return 0;
}
