/* `normlab [PRESET.yaml]`: the lab, on the setup screen for that preset (or the embedded
 * default). Options: --ascii, --no-color, --glyphs braille|block|ascii, --colors 256|8|mono,
 * --out DIR (where runs go). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "lab.h"
#include "ui/app.h"

static const char *LAB_USAGE =
    "usage: normlab [PRESET.yaml] [--set k=v]... [--out DIR] [--ascii] [--no-color] [--glyphs G] "
    "[--colors C] "
    "[--refresh MS]\n"
    "  PRESET        a preset file, or a shipped preset's name (`normlab presets`)\n"
    "  --set k=v     change a key of the preset (and of every run of its race), e.g.\n"
    "                --set model.layers=12\n"
    "  --out DIR     runs go to DIR/lab-YYYYmmdd-HHMMSS/RUN (default runs/)\n"
    "  --ascii       plain ASCII drawing (also chosen when the locale is not UTF-8)\n"
    "  --no-color    monochrome (as is NO_COLOR in the environment)\n"
    "  --glyphs G    braille | block | ascii\n"
    "  --colors C    256 | 8 | mono\n"
    "  --refresh MS  draw new metrics at most every MS milliseconds (default 250; keys: 100)\n";

int nl_lab_exit(const ui_result *r)
{
    if (r->status == UI_BAD_INPUT)
        return nl_app_error(2, "%s", r->msg);
    if (r->status != UI_OK)
        return nl_app_error(1, "%s", r->msg);
    if (r->signal)
        term_reraise(r->signal);
    return 0;
}

int nl_cmd_lab(int argc, char **argv)
{
    ui_lab_opts o;
    memset(&o, 0, sizeof o);
    const char *preset = NULL;
    const char *sets[64];
    int n_sets = 0;
    for (int i = 1; i < argc; i++) {
        char msg[256];
        int r = term_parse_opt(&o.term, argc, argv, &i, msg, sizeof msg);
        if (r < 0)
            return nl_app_error(2, "%s", msg);
        if (r > 0)
            continue;
        const char *kv = nl_app_set_arg(argc, argv, &i);
        if (kv) {
            if (n_sets >= 64)
                return nl_app_error(2, "at most 64 --set options");
            sets[n_sets++] = kv;
        } else if (!strcmp(argv[i], "--set")) {
            return nl_app_error(2, "--set needs key=value, e.g. --set model.layers=12");
        } else if (!strcmp(argv[i], "--out")) {
            if (i + 1 >= argc)
                return nl_app_error(2, "--out needs a directory");
            o.out_dir = argv[++i];
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(LAB_USAGE, stdout);
            return 0;
        } else if (argv[i][0] == '-') {
            fputs(LAB_USAGE, stderr);
            return nl_app_error(2, "unknown option '%s'", argv[i]);
        } else if (preset) {
            fputs(LAB_USAGE, stderr);
            return nl_app_error(2, "one preset at a time ('%s' and '%s')", preset, argv[i]);
        } else {
            preset = argv[i];
        }
    }
    nl_config *cfg = malloc(sizeof *cfg);
    if (!cfg)
        return nl_app_error(1, "out of memory");
    int rc = nl_app_load_preset(preset, cfg);
    if (rc) {
        free(cfg);
        return rc;
    }
    if (n_sets && (rc = nl_app_configure(cfg, sets, n_sets, 0, -1, NULL))) {
        free(cfg);
        return rc;
    }
    o.preset = preset;
    o.presets_dir = nl_app_presets_dir();
    ui_result res = ui_lab_main(cfg, &o);
    rc = nl_lab_exit(&res);
    free(cfg);
    return rc;
}
