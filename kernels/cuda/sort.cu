/* A stable sort of int32 keys with their original positions, on cub's radix sort (stable:
 * equal keys keep their input order). The scatter-adds sort by destination row with it, so
 * each destination adds its contributions in increasing source order, with no atomics. */
#include <cub/device/device_radix_sort.cuh>

#include "nlcuda.h"

static int key_bits(int key_limit)
{
    int bits = 1;
    while (bits < 31 && (1 << bits) < key_limit)
        bits++;
    return bits;
}

static size_t align256(size_t b)
{
    return (b + 255) / 256 * 256;
}

static size_t temp_bytes(int n, int key_limit)
{
    size_t bytes = 0;
    cub::DeviceRadixSort::SortPairs(NULL, bytes, (const uint32_t *)NULL, (uint32_t *)NULL,
                                    (const int32_t *)NULL, (int32_t *)NULL, n, 0,
                                    key_bits(key_limit));
    return bytes;
}

size_t cu_sort_bytes(int n, int key_limit)
{
    return 3 * align256(sizeof(int32_t) * (size_t)(n > 0 ? n : 1)) +
           align256(temp_bytes(n, key_limit));
}

__global__ void iota_kernel(int32_t *x, int n)
{
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
        x[i] = i;
}

int cu_sort_keys(nl_kernels *k, void *mem, const int32_t *keys, int n, int key_limit,
                 int32_t **sorted_keys, int32_t **order)
{
    size_t slot = align256(sizeof(int32_t) * (size_t)(n > 0 ? n : 1));
    char *p = (char *)mem;
    int32_t *pos_in = (int32_t *)p, *keys_out = (int32_t *)(p + slot),
            *pos_out = (int32_t *)(p + 2 * slot);
    void *temp = p + 3 * slot;
    size_t tb = temp_bytes(n, key_limit);
    *sorted_keys = keys_out;
    *order = pos_out;
    if (n <= 0)
        return 0;
    iota_kernel<<<cu_grid(n, 256, 4), 256, 0, cu_stream(k)>>>(pos_in, n);
    /* keys are non-negative, so their order as unsigned is their order as int */
    cudaError_t e =
        cub::DeviceRadixSort::SortPairs(temp, tb, (const uint32_t *)keys, (uint32_t *)keys_out,
                                        pos_in, pos_out, n, 0, key_bits(key_limit), cu_stream(k));
    if (cu_check(k, e, "radix sort"))
        return -1;
    cu_check_launch(k, "radix sort");
    return 0;
}
