/* normlab train's races (app/train.c): --run NAMES, and the command that continues one. */
#ifndef NL_APP_TRAIN_RACE_H
#define NL_APP_TRAIN_RACE_H

#include <stdbool.h>

#include "../engine/config.h"

/* The command that continues an interrupted race: this one, with --out naming the race's
 * directory when it was chosen here (runs/NAME-2). Allocated; NULL when out of memory. */
char *nl_train_race_command(int argc, char **argv, const char *chosen_out);
/* Whether name is one of the comma-separated names of list. */
bool nl_train_in_list(const char *list, const char *name);
/* --run NAMES: every name must be a run of the race of c; else the message and exit code 2. */
int nl_train_check_run_names(const nl_config *c, const char *list);

#endif
