/* The sub-commands of the normlab binary. Each returns the process exit code:
 * 0 success, 1 the run failed (or diverged with --fail-on-diverge), 2 bad usage or input. */
#ifndef NL_COMMANDS_H
#define NL_COMMANDS_H

#include "../engine/config.h"

int nl_cmd_train(int argc, char **argv);
int nl_cmd_eval(int argc, char **argv);
int nl_cmd_export(int argc, char **argv);
int nl_cmd_presets(int argc, char **argv);
int nl_cmd_bench(int argc, char **argv);
int nl_cmd_sweep(int argc, char **argv);
int nl_cmd_lab(int argc, char **argv);   /* ui/: the lab (setup screen, dashboard) */
int nl_cmd_watch(int argc, char **argv); /* ui/: dashboard over run directories */

/* Shared helpers (app/common.c). */
/* Load PRESET (a path, a shipped preset name such as "post", or NULL for the embedded
 * default) into c. Prints the error and returns 2 on failure. */
int nl_app_load_preset(const char *preset, nl_config *c);
/* The directory of shipped presets (next to the binary, or PREFIX/share/normlab/presets). */
const char *nl_app_presets_dir(void);
/* Print "normlab: <msg>" to stderr and return code. */
int nl_app_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Parse a positive integer option value; prints and returns 2 when bad. */
int nl_app_int(const char *opt, const char *val, long lo, long hi, long *out);

#endif
