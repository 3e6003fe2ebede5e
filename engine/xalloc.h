/* The engine's host allocations go through these wrappers, so that every one of them can be
 * made to fail in a test: nl_alloc_fail_at(n) makes the n-th allocation from then on return
 * NULL (once), and the code around it must fail that run with a message, never crash. The
 * wrappers are otherwise malloc, calloc, realloc and strdup. Thread-safe. */
#ifndef NL_XALLOC_H
#define NL_XALLOC_H

#include <stddef.h>

void *nl_malloc(size_t n);
void *nl_calloc(size_t count, size_t size);
void *nl_realloc(void *p, size_t n);
/* strdup through nl_malloc. */
char *nl_strdup(const char *s);

/* Test hook: the n-th (1-based) allocation through the wrappers after this call fails;
 * n <= 0 turns failing off. */
void nl_alloc_fail_at(long n);
/* Allocations through the wrappers since the last nl_alloc_fail_at (or the start). */
long nl_alloc_count(void);

#endif
