/* A minimal test harness. Each test binary prints one line per case:
 *   PASS name
 *   FAIL name: reason
 *   SKIP name: reason
 * and tests/run.sh adds them up. A case is a function; T_CHECK records a failure with the
 * file and line and keeps going, so one case reports every wrong value it finds. */
#ifndef NL_T_H
#define NL_T_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_failed_now;
static int t_total_failed;
static char t_first_reason[512];

#define T_CHECK(cond, ...)                                                                        \
    do {                                                                                          \
        if (!(cond)) {                                                                            \
            if (!t_failed_now) {                                                                  \
                int t_n = snprintf(t_first_reason, sizeof t_first_reason, "%s:%d: ", __FILE__,     \
                                   __LINE__);                                                     \
                snprintf(t_first_reason + t_n, sizeof t_first_reason - (size_t)t_n, __VA_ARGS__); \
            }                                                                                     \
            t_failed_now++;                                                                       \
        }                                                                                         \
    } while (0)

/* |a - b| <= tol * max(1, |b|) */
#define T_NEAR(a, b, tol, what)                                                                   \
    T_CHECK(fabs((double)(a) - (double)(b)) <= (tol) * fmax(1.0, fabs((double)(b))),              \
            "%s: got %.9g, expected %.9g", (what), (double)(a), (double)(b))

/* Run one case. A case may call t_skip() and return. */
static int t_skipped_now;
static char t_skip_reason[512];
__attribute__((unused)) static void t_skip(const char *reason)
{
    t_skipped_now = 1;
    snprintf(t_skip_reason, sizeof t_skip_reason, "%s", reason);
}

#define T_RUN(fn)                                                                                 \
    do {                                                                                          \
        t_failed_now = 0;                                                                         \
        t_skipped_now = 0;                                                                        \
        fn();                                                                                     \
        if (t_failed_now) {                                                                       \
            printf("FAIL %s: %s%s\n", #fn, t_first_reason,                                        \
                   t_failed_now > 1 ? " (and more)" : "");                                        \
            t_total_failed++;                                                                     \
        } else if (t_skipped_now) {                                                               \
            printf("SKIP %s: %s\n", #fn, t_skip_reason);                                          \
        } else {                                                                                  \
            printf("PASS %s\n", #fn);                                                             \
        }                                                                                         \
        fflush(stdout);                                                                           \
    } while (0)

#define T_END() return t_total_failed ? 1 : 0

#endif
