/* `normlab watch RUN_DIR...`: the dashboard over run directories written by `normlab train`
 * or the lab, live or finished. Controls that need a live run are off. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "ui/app.h"
#include "ui/lab.h"

static const char *WATCH_USAGE =
    "usage: normlab watch RUN_DIR... [--ascii] [--no-color] [--glyphs G] [--colors C]\n"
    "  follows each run directory's metrics.csv and events.log (up to 8 directories)\n";

int nl_cmd_watch(int argc, char **argv)
{
    ui_term_opts t;
    memset(&t, 0, sizeof t);
    char *dirs[NL_MAX_RACE];
    int n = 0;
    for (int i = 1; i < argc; i++) {
        char msg[256];
        int r = term_parse_opt(&t, argc, argv, &i, msg, sizeof msg);
        if (r < 0)
            return nl_app_error(2, "%s", msg);
        if (r > 0)
            continue;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(WATCH_USAGE, stdout);
            return 0;
        }
        if (argv[i][0] == '-') {
            fputs(WATCH_USAGE, stderr);
            return nl_app_error(2, "unknown option '%s'", argv[i]);
        }
        if (n == NL_MAX_RACE)
            return nl_app_error(2, "watch takes at most %d run directories", NL_MAX_RACE);
        dirs[n++] = argv[i];
    }
    if (n == 0) {
        fputs(WATCH_USAGE, stderr);
        return nl_app_error(2, "watch needs a run directory");
    }
    return ui_watch_main(dirs, n, &t);
}
