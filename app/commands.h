/* The sub-commands of the normlab binary. Each returns the process exit code:
 * 0 success, 1 the run failed (or diverged with --fail-on-diverge), 2 bad usage or input. */
#ifndef NL_COMMANDS_H
#define NL_COMMANDS_H

#include <stddef.h>

#include "../engine/config.h"

int nl_cmd_train(int argc, char **argv);
int nl_cmd_eval(int argc, char **argv);
int nl_cmd_export(int argc, char **argv);
int nl_cmd_presets(int argc, char **argv);
int nl_cmd_bench(int argc, char **argv);
int nl_cmd_sweep(int argc, char **argv);
int nl_cmd_lesson(int argc, char **argv);
int nl_cmd_report(int argc, char **argv); /* app/report.c: the HTML report of runs */
int nl_cmd_lab(int argc, char **argv);   /* ui/: the lab (setup screen, dashboard) */
int nl_cmd_watch(int argc, char **argv); /* ui/: dashboard over run directories */

/* Shared helpers (app/common.c). */
/* Load PRESET (a path, a shipped preset name such as "post", lesson:NAME for an embedded
 * lesson, or NULL for the embedded default) into c. Prints the error and returns 2 on failure. */
int nl_app_load_preset(const char *preset, nl_config *c);
/* Load a lesson into c: an embedded lesson's name (`normlab lesson` lists them), or a preset
 * file with a `lesson:` map. `lesson:NAME` as a preset name comes here too. Prints the error
 * and returns 2 on failure. */
int nl_app_load_lesson(const char *lesson, nl_config *c);
/* The directory of shipped presets (next to the binary, or PREFIX/share/normlab/presets). */
const char *nl_app_presets_dir(void);
/* Print "normlab: <msg>" to stderr and return code. */
int nl_app_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Parse a positive integer option value; prints and returns 2 when bad. */
int nl_app_int(const char *opt, const char *val, long lo, long hi, long *out);
/* argv[*i] as `--set KEY=VALUE` (then *i moves past the value) or `--set=KEY=VALUE`: the
 * KEY=VALUE text; NULL when argv[*i] is neither. */
const char *nl_app_set_arg(int argc, char **argv, int *i);
/* The command-line overrides of a config, in this order: each --set, then train.steps
 * (steps > 0), train.threads (threads >= 0) and train.device (device non-NULL); then the
 * config is validated. Prints the error and returns 2 on failure. */
int nl_app_configure(nl_config *c, const char *const *sets, int n_sets, long steps, long threads,
                     const char *device);
/* The exit code for an engine error: 1 when the run itself failed (NL_ERR_RUN: backend,
 * memory), 2 for bad input (a preset, a key, a file). */
int nl_app_exit_code(int err_code);
/* The width of the terminal on fd (ioctl TIOCGWINSZ), else $COLUMNS, else 80. */
int nl_app_term_columns(int fd);

#endif
