#include "dashkeys.h"

#include <math.h>
#include <ncursesw/curses.h>

#include "keys.h"

/* ---- the x window and the cursor ---------------------------------------------------------- */

/* The x window after zooming by factor (< 1 in, > 1 out): around the cursor when it is
 * shown, else keeping the newest steps in view; the whole range again when it would cover
 * all of it. */
static void view_zoom(dash_view *v, ui_loop *l, const ui_run *runs, int n, double factor)
{
    double lo, hi;
    if (!dash_x_extent(v, runs, n, &lo, &hi)) {
        ui_loop_msg(l, ROLE_ERROR, "nothing to zoom yet: no run has data");
        return;
    }
    double x0 = isfinite(v->xv0) ? v->xv0 : lo, x1 = isfinite(v->xv1) ? v->xv1 : hi;
    double span = (x1 - x0) * factor;
    double min_span = v->x_time ? 1 : v->x_tokens ? 64 : 4;
    if (span < min_span)
        span = min_span;
    if (span >= hi - lo) {
        v->xv0 = v->xv1 = NAN;
        ui_loop_msg(l, ROLE_OK, "x: the whole run");
        return;
    }
    double a0 = v->cursor ? v->cursor_x - span / 2 : factor < 1 ? x1 - span : (x0 + x1 - span) / 2;
    if (!v->x_time) { /* whole steps (tokens) at the edges */
        span = round(span);
        a0 = round(a0);
    }
    if (a0 < lo)
        a0 = lo;
    if (a0 + span > hi)
        a0 = hi - span;
    v->xv0 = a0;
    v->xv1 = a0 + span;
    char s0[24], s1[24];
    plot_fmt_count(v->xv0, s0, sizeof s0);
    plot_fmt_count(v->xv1, s1, sizeof s1);
    ui_loop_msg(l, ROLE_OK, "x %s-%s: [ out, ] in, < > pan, 0 all", s0, s1);
}

static void view_pan(dash_view *v, ui_loop *l, const ui_run *runs, int n, int dir)
{
    double lo, hi;
    if (!isfinite(v->xv0) || !dash_x_extent(v, runs, n, &lo, &hi)) {
        ui_loop_msg(l, ROLE_ERROR, "the whole x range is shown: ] zooms in first");
        return;
    }
    double span = v->xv1 - v->xv0, a0 = v->xv0 + dir * span / 4;
    if (a0 < lo)
        a0 = lo;
    if (a0 + span > hi)
        a0 = hi - span;
    v->xv0 = a0;
    v->xv1 = a0 + span;
}

/* The cursor one plot column left or right (shown at the newest step the first time). */
static void view_cursor(dash_view *v, ui_loop *l, const ui_run *runs, int n, const plot_layout *L,
                        int dir)
{
    double lo, hi;
    if (!dash_x_extent(v, runs, n, &lo, &hi)) {
        ui_loop_msg(l, ROLE_ERROR, "no data to put the cursor on yet");
        return;
    }
    double x0 = isfinite(v->xv0) ? v->xv0 : lo, x1 = isfinite(v->xv1) ? v->xv1 : hi;
    if (L->has_data && L->xmax > L->xmin) {
        x0 = L->xmin;
        x1 = L->xmax;
    }
    int cols = L->area.w > 1 ? L->area.w : 60;
    if (!v->cursor || !(v->cursor_x >= x0 && v->cursor_x <= x1)) {
        v->cursor = 1;
        v->cursor_x = hi < x1 ? hi : x1;
    } else {
        v->cursor_x += dir * (x1 - x0) / (cols - 1);
    }
    if (v->cursor_x < x0)
        v->cursor_x = x0;
    if (v->cursor_x > (hi < x1 ? hi : x1))
        v->cursor_x = hi < x1 ? hi : x1;
}

/* ---- the keys ---------------------------------------------------------------------------- */

static void smooth_msg(const dash_view *v, ui_loop *l)
{
    if (v->smooth)
        ui_loop_msg(l, ROLE_OK, "smoothing %.3g (about %d steps)", 1 - dash_smooth_alpha(v->smooth),
                    dash_smooth_steps(v->smooth));
    else
        ui_loop_msg(l, ROLE_OK, "no smoothing");
}

/* step -> tokens -> training time -> step; the window and cursor were in the old units */
static void key_xaxis(dash_view *v, ui_loop *l)
{
    if (v->x_time)
        v->x_time = v->x_tokens = 0;
    else if (v->x_tokens)
        v->x_time = 1;
    else
        v->x_tokens = 1;
    v->xv0 = v->xv1 = NAN;
    v->cursor = 0;
    ui_loop_msg(l, ROLE_OK, "x axis by %s",
                v->x_time     ? "training time (seconds)"
                : v->x_tokens ? "tokens"
                              : "step");
}

int dash_view_key(dash_view *v, ui_loop *l, ui_action act, int key, const ui_run *runs, int n,
                  const plot_layout *lay)
{
    switch (act) {
    case ACT_SMOOTH_MORE:
        if (v->smooth + 1 < dash_smooth_levels())
            v->smooth++;
        smooth_msg(v, l);
        return 1;
    case ACT_SMOOTH_LESS:
        if (v->smooth > 0)
            v->smooth--;
        smooth_msg(v, l);
        return 1;
    case ACT_DEBIAS:
        v->debias = !v->debias;
        v->smooth_window = 0;
        ui_loop_msg(l, ROLE_OK, "EMA %s", v->debias ? "debiased (from zero, corrected)" : "plain");
        return 1;
    case ACT_SMOOTH_KIND:
        v->smooth_window = !v->smooth_window;
        ui_loop_msg(l, ROLE_OK, "smoothing: %s",
                    v->smooth_window ? "mean of a trailing window (+/- its length)" : "EMA");
        return 1;
    case ACT_LOGY:
        v->logy = !v->logy;
        return 1;
    case ACT_XAXIS:
        key_xaxis(v, l);
        return 1;
    case ACT_ZOOM_IN:
    case ACT_ZOOM_OUT:
        view_zoom(v, l, runs, n, act == ACT_ZOOM_IN ? 0.5 : 2);
        return 1;
    case ACT_PAN_LEFT:
    case ACT_PAN_RIGHT:
        view_pan(v, l, runs, n, act == ACT_PAN_RIGHT ? 1 : -1);
        return 1;
    case ACT_CURSOR_LEFT:
        view_cursor(v, l, runs, n, lay, key == UI_KEY(KEY_RIGHT) ? 1 : -1);
        return 1;
    case ACT_CURSOR_OFF:
        v->cursor = 0;
        return 1;
    case ACT_Y_IN:
        if (v->yzoom < 6)
            v->yzoom++;
        ui_loop_msg(l, ROLE_OK, "y: the lower 1/%d of the range ({ back, 0 all)", 1 << v->yzoom);
        return 1;
    case ACT_Y_OUT:
        if (v->yzoom > 0)
            v->yzoom--;
        return 1;
    case ACT_VIEW_RESET:
        v->xv0 = v->xv1 = NAN;
        v->yzoom = 0;
        v->cursor = 0;
        ui_loop_msg(l, ROLE_OK, "whole range");
        return 1;
    default:
        return 0;
    }
}
