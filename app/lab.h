/* The end of a terminal screen (ui/app.h) as the process sees it, shared by `normlab`,
 * `normlab watch` and `normlab lesson` (app/lab.c). */
#ifndef NL_APP_LAB_H
#define NL_APP_LAB_H

#include "ui/loop.h"

/* Prints r's message when it failed and returns the exit code: 0 when the user quit, 2 for
 * bad input (not a terminal, a directory that cannot be shown), 1 when out of memory. A quit
 * by a signal ends the process by that signal, as a killed program would. */
int nl_lab_exit(const ui_result *r);

#endif
