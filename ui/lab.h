/* The two commands the terminal UI provides; app/main.c dispatches to them.
 *   nl_cmd_lab(argc, argv):   `normlab [PRESET.yaml] [--ascii] [--no-color] ...` (argv[0] is the
 *                              program; app/lab.c)
 *   nl_cmd_watch(argc, argv): `normlab watch RUN_DIR...` (argv[0] is "watch"; app/watch.c)
 * Both return the process exit code: 0, or 2 for bad usage or input. */
#ifndef UI_LAB_H
#define UI_LAB_H

int nl_cmd_lab(int argc, char **argv);
int nl_cmd_watch(int argc, char **argv);

#endif
