/* normlab presets: list the shipped presets with their one-line descriptions. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int nl_cmd_presets(int argc, char **argv)
{
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        puts("usage: normlab presets\n\nLists the shipped presets (usable by name: normlab "
             "train post).");
        return 0;
    }
    if (argc > 1)
        return nl_app_error(2, "presets: takes no arguments, got '%s' (see normlab presets --help)",
                            argv[1]);
    const char *dir = nl_app_presets_dir();
    DIR *d = opendir(dir);
    if (!d)
        return nl_app_error(2, "%s: cannot list presets", dir);
    char *names[256] = {0};
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256) {
        size_t len = strlen(e->d_name);
        if (len > 5 && !strcmp(e->d_name + len - 5, ".yaml"))
            names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], cmp);
    printf("presets in %s:\n", dir);
    for (int i = 0; i < n; i++) {
        char path[4096], line[512], desc[512] = "";
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        FILE *f = fopen(path, "r");
        while (f && fgets(line, sizeof line, f)) {
            if (line[0] != '#')
                break;
            char *s = line + 1;
            while (*s == ' ')
                s++;
            s[strcspn(s, "\n")] = '\0';
            if (*s) {
                snprintf(desc, sizeof desc, "%s", s);
                break;
            }
        }
        if (f)
            fclose(f);
        names[i][strlen(names[i]) - 5] = '\0';
        printf("  %-16s %s\n", names[i], desc);
        free(names[i]);
    }
    return 0;
}
