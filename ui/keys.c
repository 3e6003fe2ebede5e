#include "keys.h"

#include <ncursesw/curses.h>

#include "term.h"

#define K(k) UI_KEY(k)

/* Footer order is table order: the most used first, since narrow terminals cut the rest. */
static const ui_binding table[] = {
    {K(KEY_F(5)), 'g', "F5 g", ACT_START, CTX_SETUP, 0, "start",
     "start the setup alone, or the race when it has runs"},
    {'a', 0, "a", ACT_RACE_ADD, CTX_SETUP, 0, "add",
     "add the current setup to the race (up to 8 runs)"},
    {'\t', 0, "Tab", ACT_RACE_FOCUS, CTX_SETUP, 0, "race",
     "move between the form and the race list"},
    {'\r', '\n', "Enter", ACT_EDIT, CTX_SETUP, 0, "edit",
     "edit the field; enums: next choice; in the race list: edit that run in the form (a "
     "then saves it back in place)"},
    {'o', 0, "o", ACT_LOAD, CTX_SETUP, 0, "load", "load a preset (YAML file)"},
    {'w', 0, "w", ACT_SAVE_PRESET, CTX_SETUP, 0, "save",
     "save the setup and its race as one preset (asks before replacing a file); o opens it"},
    {'A', 0, "A", ACT_RACE_APPLY, CTX_SETUP, 0, NULL,
     "apply the selected field's value to every run of the race"},
    {'/', 0, "/", ACT_FIND, CTX_SETUP, 0, "find",
     "jump to a field by (part of) its name, e.g. /layers"},
    {K(KEY_LEFT), 0, "Left", ACT_PREV_CHOICE, CTX_SETUP, 0, NULL,
     "previous choice; bools toggle; integers -1, other numbers halve"},
    {K(KEY_RIGHT), ' ', "Right Space", ACT_NEXT_CHOICE, CTX_SETUP, 0, NULL,
     "next choice; bools toggle; integers +1, other numbers double"},
    {K(KEY_UP), 'k', "Up k", ACT_FIELD_UP, CTX_SETUP, 0, NULL, "previous field (or race entry)"},
    {K(KEY_DOWN), 'j', "Down j", ACT_FIELD_DOWN, CTX_SETUP, 0, NULL, "next field (or race entry)"},
    {K(KEY_PPAGE), 0, "PgUp", ACT_PAGE_UP, CTX_SETUP, 0, NULL, "a page of fields up"},
    {K(KEY_NPAGE), 0, "PgDn", ACT_PAGE_DOWN, CTX_SETUP, 0, NULL, "a page of fields down"},
    {'d', K(KEY_DC), "d Del", ACT_RACE_DEL, CTX_SETUP, 0, "del",
     "remove the selected run from the race"},
    {' ', 0, "Space", ACT_PAUSE, CTX_DASH, 1, "pause", "pause / resume every run"},
    {'s', 0, "s", ACT_STEP, CTX_DASH, 1, "step", "one step of every run while paused"},
    {'L', 0, "L", ACT_LESSON, CTX_DASH, 0, "lesson",
     "lesson pane: the question, where to look, what to see, why"},
    {'i', 0, "i", ACT_TEACH, CTX_DASH, 0, "explain",
     "teaching panel: the placement's equations, expected profile, what the run shows"},
    {'e', 0, "e", ACT_EXPERTS, CTX_DASH, 0, "experts",
     "MoE runs: expert load per layer, or the gradient and RMS bars"},
    {'m', 0, "m", ACT_MESSAGES, CTX_DASH, 0, "msgs",
     "message pane: every message, checkpoint, warning, divergence and failure, with its time"},
    {'o', 0, "o", ACT_OVERLAY, CTX_SWEEP, 0, "all rows",
     "overlay every row's runs on one plot, with the dashboard's zoom, pan, cursor and hide "
     "keys (o again: back to the grid)"},
    {'o', 0, "o", ACT_OVERLAY, CTX_OVERLAY, 0, "grid", "back to the grid of the sweep"},
    {K(KEY_DOWN), 'j', "Down j", ACT_NEXT_RUN, CTX_OVERLAY, 0, NULL,
     "select the next run (marked in the run lines; v hides it)"},
    {K(KEY_UP), 'k', "Up k", ACT_PREV_RUN, CTX_OVERLAY, 0, NULL, "select the previous run"},
    {']', 0, "] [", ACT_ZOOM_IN, CTX_DASH | CTX_OVERLAY, 0, "zoom",
     "zoom the x range in (around the cursor, else the newest steps) / out"},
    {'[', 0, "[", ACT_ZOOM_OUT, CTX_DASH | CTX_OVERLAY, 0, NULL, "zoom the x range out"},
    {K(KEY_LEFT), K(KEY_RIGHT), "Left Right", ACT_CURSOR_LEFT, CTX_DASH | CTX_OVERLAY, 0, "cursor",
     "cursor: move it over the plot; every run's status line reads its values at that step"},
    {27, 0, "Esc", ACT_CURSOR_OFF, CTX_DASH | CTX_OVERLAY, 0, NULL, "hide the cursor"},
    {'v', 0, "v", ACT_HIDE_RUN, CTX_DASH | CTX_OVERLAY, 0, "hide",
     "hide / show the selected run's curve"},
    {'y', 0, "y", ACT_SERIES, CTX_DASH | CTX_OVERLAY, 0, "series",
     "top plot: train loss, val loss, learning rate, global grad norm, tokens/s"},
    {'\t', 0, "Tab", ACT_PANEL, CTX_DASH, 0, "panel", "focus the next panel"},
    {K(KEY_DOWN), 'j', "Down j", ACT_NEXT_RUN, CTX_SWEEP, 0, "row",
     "select the next row of the grid: its runs' loss curves show below"},
    {K(KEY_UP), 'k', "Up k", ACT_PREV_RUN, CTX_SWEEP, 0, NULL, "select the previous row"},
    {'l', 0, "l", ACT_LOGY, CTX_DASH | CTX_SWEEP | CTX_OVERLAY, 0, "log",
     "log / linear y of the loss plot"},
    {'+', '=', "+", ACT_SMOOTH_MORE, CTX_DASH | CTX_SWEEP | CTX_OVERLAY, 0, "smooth+",
     "more smoothing (a longer EMA, or a longer window)"},
    {'-', '_', "-", ACT_SMOOTH_LESS, CTX_DASH | CTX_SWEEP | CTX_OVERLAY, 0, "smooth-",
     "less smoothing (none at the end)"},
    {'W', 0, "W", ACT_SMOOTH_KIND, CTX_DASH | CTX_OVERLAY, 0, NULL,
     "smoothing by an EMA or by the mean of a trailing window of steps"},
    {'b', 0, "b", ACT_DEBIAS, CTX_DASH | CTX_OVERLAY, 0, NULL,
     "EMA debiased (from zero, corrected: early steps not pulled to the first) or plain"},
    {'x', 0, "x", ACT_STOP, CTX_DASH, 1, "stop", "stop the selected run (final checkpoint)"},
    {'c', 0, "c", ACT_CKPT, CTX_DASH, 1, "ckpt", "checkpoint every run now"},
    {'r', 0, "r", ACT_RESTART, CTX_DASH, 1, "restart", "restart the runs with the same setup"},
    {'n', 0, "n", ACT_SETUP, CTX_DASH, 1, "setup", "back to the setup screen (stops the runs)"},
    {'h', 0, "h", ACT_HEAT_KIND, CTX_DASH, 0, "attn/ffn",
     "heatmap and bars: attention or FFN gradient norms"},
    {'p', 0, "p", ACT_PER_LAYER, CTX_DASH, 0, NULL,
     "heatmap panel: per-layer gradient-norm curves over time, or the heatmap"},
    {'t', 0, "t", ACT_XAXIS, CTX_DASH | CTX_SWEEP | CTX_OVERLAY, 0, NULL,
     "x axis by step, by tokens, or by training time (seconds)"},
    {'.', '>', ". >", ACT_PAN_RIGHT, CTX_DASH | CTX_OVERLAY, 0, NULL,
     "pan a zoomed x range right (later)"},
    {',', '<', ", <", ACT_PAN_LEFT, CTX_DASH | CTX_OVERLAY, 0, NULL,
     "pan a zoomed x range left (earlier)"},
    {'}', 0, "}", ACT_Y_IN, CTX_DASH | CTX_OVERLAY, 0, NULL,
     "y range: its lower half (look under an early spike); again for a half of that"},
    {'{', 0, "{", ACT_Y_OUT, CTX_DASH | CTX_OVERLAY, 0, NULL,
     "y range: back toward the whole data"},
    {'0', 0, "0", ACT_VIEW_RESET, CTX_DASH | CTX_OVERLAY, 0, NULL,
     "whole x and y range again, no cursor"},
    {'V', 0, "V", ACT_SHOW_ALL, CTX_DASH | CTX_OVERLAY, 0, NULL, "show every run's curve again"},
    {'D', 0, "D", ACT_DIFF, CTX_DASH, 0, NULL,
     "config diff: the keys whose values differ between the runs"},
    {'z', 0, "z", ACT_ZOOM, CTX_DASH, 0, NULL, "zoom the focused panel to the whole screen"},
    {K(KEY_DOWN), 'j', "Down j", ACT_NEXT_RUN, CTX_DASH, 0, NULL,
     "select the next run (lesson or message pane shown: scroll it)"},
    {K(KEY_UP), 'k', "Up k", ACT_PREV_RUN, CTX_DASH, 0, NULL,
     "select the previous run (lesson or message pane shown: scroll it)"},
    {K(KEY_PPAGE), K(KEY_NPAGE), "PgUp PgDn", ACT_LESSON_PAGE, CTX_DASH, 0, NULL,
     "scroll the lesson pane by a page"},
    {'?', K(KEY_F(1)), "? F1", ACT_HELP, CTX_ANY, 0, "help", "this help (any key closes it)"},
    {'q', K(KEY_F(10)), "q F10", ACT_QUIT, CTX_ANY, 0, "quit",
     "quit; while runs are going it asks, then stops each with a final checkpoint"},
    {'H', 0, "H", ACT_REPORT, CTX_DASH, 0, NULL,
     "save an HTML report of these runs: report.html beside their directories"},
};

const ui_binding *keys_table(int *count)
{
    *count = (int)(sizeof table / sizeof *table);
    return table;
}

const ui_binding *keys_find(int key, unsigned ctx)
{
    for (size_t i = 0; i < sizeof table / sizeof *table; i++) {
        const ui_binding *b = &table[i];
        if (!(b->ctx & ctx))
            continue;
        if (b->key == key || (b->key2 && b->key2 == key))
            return b;
    }
    return NULL;
}
