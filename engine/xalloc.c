#include "xalloc.h"

#include <stdlib.h>
#include <string.h>

static long g_count;   /* allocations since the last nl_alloc_fail_at */
static long g_fail_at; /* 0: never */

static int should_fail(void)
{
    long n = __atomic_add_fetch(&g_count, 1, __ATOMIC_RELAXED);
    long at = __atomic_load_n(&g_fail_at, __ATOMIC_RELAXED);
    return at > 0 && n == at;
}

void *nl_malloc(size_t n)
{
    return should_fail() ? NULL : malloc(n);
}

void *nl_calloc(size_t count, size_t size)
{
    return should_fail() ? NULL : calloc(count, size);
}

void *nl_realloc(void *p, size_t n)
{
    return should_fail() ? NULL : realloc(p, n);
}

char *nl_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = nl_malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

void nl_alloc_fail_at(long n)
{
    __atomic_store_n(&g_fail_at, n > 0 ? n : 0, __ATOMIC_RELAXED);
    __atomic_store_n(&g_count, 0, __ATOMIC_RELAXED);
}

long nl_alloc_count(void)
{
    return __atomic_load_n(&g_count, __ATOMIC_RELAXED);
}
