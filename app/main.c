/* normlab entry point: dispatches to the sub-commands. */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: normlab [PRESET.yaml] | train | watch | eval | export | sweep | bench | presets\n");
        return 0;
    }
    fprintf(stderr, "normlab: not built yet\n");
    return 2;
}
