/* Placeholder until the ncurses dashboard lands. */
#include <stdio.h>

#include "commands.h"

int nl_cmd_watch(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "normlab: watch is not built yet\n");
    return 2;
}
