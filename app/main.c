/* normlab entry point: dispatches to the sub-commands (app/commands.h). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../engine/backend.h"
#include "commands.h"

static const char *USAGE =
    "normlab - a terminal training lab for transformer layer-norm placement\n"
    "\n"
    "usage:\n"
    "  normlab [PRESET.yaml]                 the lab (setup screen on that preset, or the\n"
    "                                        embedded default)\n"
    "  normlab train [PRESET] [--set k=v]... [--out DIR] [--steps N] [--device D] [--resume CKPT]\n"
    "                [--run NAME]            (--run: of a race, only that run)\n"
    "  mpirun -np N normlab train ...        one run data-parallel over N ranks (a build\n"
    "                                        with MPI: docs/SCALE.md)\n"
    "  normlab watch RUN_DIR...              the dashboard over run (or sweep) directories\n"
    "  normlab eval CKPT [--data SPEC] [--batches N]   prints \"loss <value>\"\n"
    "  normlab export CKPT -o FILE.safetensors\n"
    "  normlab sweep PRESET --vary k=v1,v2,... [--vary ...] [--set k=v]... [--seeds N]\n"
    "                [--jobs N] [--out DIR] [--steps N] [--slurm [--sbatch-args \"ARGS\"]]\n"
    "                                        (--slurm: the runs as a Slurm job array)\n"
    "  normlab sweep --collect DIR           the runs finished in DIR into sweep.csv; the table\n"
    "  normlab bench [PRESET...] [--steps N] [--race]\n"
    "                                        tokens/s and model-FLOP utilisation\n"
    "  normlab presets                       list the shipped presets\n"
    "  normlab report RUN_DIR...|SWEEP_DIR -o FILE.html\n"
    "                                        one self-contained HTML page comparing runs\n"
    "  normlab lesson [NAME] [--set k=v]... [--steps N] [--headless [--out DIR]]\n"
    "                                        list the lessons, or open the lab on one: its\n"
    "                                        race and a pane with the question, where to\n"
    "                                        look, what to see and why (L toggles it);\n"
    "                                        --headless trains the race instead\n"
    "\n"
    "the lab's options (also for `normlab lesson` and, but --out and --set, `normlab watch`):\n"
    "  --set k=v      change a key of the preset (and of every run of its race)\n"
    "  --out DIR      runs go to DIR/lab-YYYYmmdd-HHMMSS/RUN (default runs/)\n"
    "  --ascii        plain ASCII drawing     --no-color  no colour (as is NO_COLOR=1)\n"
    "  --glyphs G     braille|block|ascii     --colors C  256|8|mono\n"
    "  --refresh MS   draw new metrics at most every MS milliseconds (default 250)\n"
    "\n"
    "`normlab COMMAND --help` describes each command; the dashboard's keys: ? inside it.\n"
    "exit status: 0 success, 1 the run failed, 2 bad usage or input, 130 interrupted\n"
    "(train, sweep).\n";

/* Edit distance (insertions, deletions, substitutions, adjacent swaps) of two short words. */
static int word_distance(const char *a, const char *b)
{
    int n = (int)strlen(a), m = (int)strlen(b);
    if (n > 31 || m > 31)
        return 99;
    int d[33][33] = {{0}};
    for (int i = 0; i <= n; i++)
        d[i][0] = i;
    for (int j = 0; j <= m; j++)
        d[0][j] = j;
    for (int i = 1; i <= n; i++)
        for (int j = 1; j <= m; j++) {
            int v = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < v)
                v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    return d[n][m];
}

/* A first word that is neither a file nor a shipped preset but close to a command's name
 * ("trian") is a mistyped command, not a preset. */
static const char *mistyped_command(const char *word, const char *const *names, int n)
{
    if (word[0] == '-' || strchr(word, '/') || strstr(word, ".yaml") || access(word, F_OK) == 0)
        return NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.yaml", nl_app_presets_dir(), word);
    if (access(path, F_OK) == 0)
        return NULL;
    for (int i = 0; i < n; i++)
        if (word_distance(word, names[i]) <= (strlen(word) <= 4 ? 1 : 2))
            return names[i];
    return NULL;
}

int main(int argc, char **argv)
{
    nl_backend_thread_env(argv);
    nl_backend_set_exe_path(argv[0]);
    if (argc > 1) {
        const char *cmd = argv[1];
        if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
            fputs(USAGE, stdout);
            return 0;
        }
        if (!strcmp(cmd, "--version")) {
            puts("normlab 0.1");
            return 0;
        }
        static const struct {
            const char *name;
            int (*fn)(int, char **);
        } cmds[] = {{"train", nl_cmd_train},     {"watch", nl_cmd_watch},  {"eval", nl_cmd_eval},
                    {"export", nl_cmd_export},   {"sweep", nl_cmd_sweep},  {"bench", nl_cmd_bench},
                    {"presets", nl_cmd_presets}, {"lesson", nl_cmd_lesson},
                    {"report", nl_cmd_report}};
        for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
            if (!strcmp(cmd, cmds[i].name))
                return cmds[i].fn(argc - 1, argv + 1);
        const char *names[sizeof cmds / sizeof cmds[0]];
        for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
            names[i] = cmds[i].name;
        const char *near = mistyped_command(cmd, names, (int)(sizeof cmds / sizeof cmds[0]));
        if (near)
            return nl_app_error(2,
                                "'%s' is not a command, a preset file or a shipped preset (did "
                                "you mean `normlab %s`? `normlab --help` lists the commands)",
                                cmd, near);
    }
    return nl_cmd_lab(argc, argv);
}
