/* Placeholder until sweeps land. */
#include <stdio.h>

#include "commands.h"

int nl_cmd_sweep(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "normlab: sweep is not built yet\n");
    return 2;
}
