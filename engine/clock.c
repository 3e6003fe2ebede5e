#include "clock.h"

#include <math.h>
#include <stdio.h>
#include <time.h>

double nl_clock_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double nl_eta_s(double elapsed_s, double done, double left)
{
    if (!(elapsed_s > 0) || !(done > 0))
        return NAN;
    return left > 0 ? elapsed_s * left / done : 0.0;
}

void nl_fmt_eta(double s, char *buf, size_t n)
{
    if (!isfinite(s) || s < 0) {
        snprintf(buf, n, "--:--");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    else
        snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}
