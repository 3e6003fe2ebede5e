/* normlab entry point: dispatches to the sub-commands (app/commands.h). */
#include <stdio.h>
#include <string.h>

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
    "  normlab watch RUN_DIR...              the dashboard over run (or sweep) directories\n"
    "  normlab eval CKPT [--data SPEC] [--batches N]   prints \"loss <value>\"\n"
    "  normlab export CKPT -o FILE.safetensors\n"
    "  normlab sweep PRESET --vary k=v1,v2,... [--vary ...] [--set k=v]... [--seeds N]\n"
    "                [--jobs N] [--out DIR] [--steps N]\n"
    "  normlab bench [PRESET...] [--steps N] tokens/s and model-FLOP utilisation\n"
    "  normlab presets                       list the shipped presets\n"
    "  normlab report RUN_DIR...|SWEEP_DIR -o FILE.html\n"
    "                                        one self-contained HTML page comparing runs\n"
    "  normlab lesson [NAME] [--set k=v]... [--steps N] [--headless [--out DIR]]\n"
    "                                        list the lessons, or open the lab on one: its\n"
    "                                        race and a pane with the question, where to\n"
    "                                        look, what to see and why (L toggles it);\n"
    "                                        --headless trains the race instead\n"
    "\n"
    "`normlab COMMAND --help` describes each command.\n"
    "exit status: 0 success, 1 the run failed, 2 bad usage or input, 130 interrupted\n"
    "(train, sweep).\n";

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
    }
    return nl_cmd_lab(argc, argv);
}
