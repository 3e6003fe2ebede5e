/* Placeholder until the ncurses lab lands: points to the headless commands. */
#include <stdio.h>

#include "commands.h"

int nl_cmd_lab(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "normlab: the terminal lab is not built yet; use `normlab train`\n");
    return 2;
}
