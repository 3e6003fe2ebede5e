/* Time for the engine and the commands: one monotonic clock, the one estimate of the time a
 * run (or a sweep) has left, and its one text form. */
#ifndef NL_CLOCK_H
#define NL_CLOCK_H

#include <stddef.h>

/* Monotonic seconds (CLOCK_MONOTONIC); only differences mean anything. */
double nl_clock_s(void);

/* Seconds left when `done` units of work took elapsed_s seconds and `left` units remain, at
 * the same rate; NAN when nothing is done yet (or elapsed_s is not positive). */
double nl_eta_s(double elapsed_s, double done, double left);

/* s seconds as M:SS or H:MM:SS into buf; "--:--" when unknown (NAN or negative). */
void nl_fmt_eta(double s, char *buf, size_t n);

#endif
