/* normlab train's races: which runs of a race to train (--run), and the command that
 * continues an interrupted race (app/train_race.h). */
#include "train_race.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"

/* s quoted for a POSIX shell where it needs to be, appended to b. */
static void shell_word(char *b, size_t n, const char *s)
{
    size_t len = strlen(b);
    if (*s &&
        strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./=:,+-@%") ==
            strlen(s)) {
        snprintf(b + len, n - len, " %s", s);
        return;
    }
    snprintf(b + len, n - len, " '");
    for (; *s; s++) {
        len = strlen(b);
        snprintf(b + len, n - len, *s == '\'' ? "'\\''" : "%c", *s);
    }
    len = strlen(b);
    snprintf(b + len, n - len, "'");
}

/* The command that continues an interrupted race: this one, with --out naming the race's
 * directory when it was chosen here (runs/NAME-2). Allocated. */
char *nl_train_race_command(int argc, char **argv, const char *chosen_out)
{
    size_t n = 64 + (chosen_out ? 2 * strlen(chosen_out) + 16 : 0);
    for (int i = 1; i < argc; i++)
        n += 4 * strlen(argv[i]) + 3;
    char *b = malloc(n);
    if (!b)
        return NULL;
    snprintf(b, n, "normlab train");
    for (int i = 1; i < argc; i++)
        shell_word(b, n, argv[i]);
    if (chosen_out) {
        shell_word(b, n, "--out");
        shell_word(b, n, chosen_out);
    }
    return b;
}

/* Whether the race of c has a run called name. */
static bool race_has(const nl_config *c, const char *name)
{
    for (int i = 0; i < c->n_runs; i++) {
        nl_config rc;
        nl_error err = {0};
        if (nl_config_race_entry(c, i, &rc, &err) == 0 && !strcmp(rc.name, name))
            return true;
    }
    return false;
}

/* Whether name is one of the comma-separated names of list. */
bool nl_train_in_list(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
        if (!strncmp(p, name, n) && (p[n] == ',' || p[n] == '\0'))
            return true;
    return false;
}

/* --run NAMES: every name must be a run of the race. */
int nl_train_check_run_names(const nl_config *c, const char *list)
{
    if (c->n_runs == 0)
        return nl_app_error(2, "train: --run %s: the preset '%s' is not a race (no runs: list)",
                            list, c->name);
    char names[1024] = "";
    for (int i = 0; i < c->n_runs; i++) {
        nl_config rc;
        nl_error err = {0};
        if (nl_config_race_entry(c, i, &rc, &err) == 0)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "",
                     rc.name);
    }
    char want[256];
    for (const char *p = list; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
        size_t n = strcspn(p, ",");
        snprintf(want, sizeof want, "%.*s", (int)(n < 255 ? n : 255), p);
        if (!race_has(c, want))
            return nl_app_error(2, "train: --run: the race has no run '%s' (its runs: %s)", want,
                                names);
    }
    return 0;
}
