#include "loop.h"

#include <math.h>
#include <ncursesw/curses.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FRAME_MS 100.0 /* at most ten redraws a second */
#define REFRESH_MS 250 /* new metrics are drawn at most four times a second by default */
#define MSG_MS 5000.0  /* how long a message stays in the top bar */

void ui_result_set(ui_result *r, ui_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof r->msg, fmt, ap);
    va_end(ap);
    r->status = st;
}

int ui_source_active(ui_source *s)
{
    return s && s->ops->active && s->ops->active(s);
}

int ui_source_busy(ui_source *s)
{
    return s && s->ops->busy && s->ops->busy(s);
}

void ui_source_event(ui_loop *l, ui_run *r, const nl_run_status *st)
{
    if (!st->message[0] || !strcmp(st->message, r->last_event))
        return;
    snprintf(r->last_event, sizeof r->last_event, "%s", st->message);
    int bad = strstr(st->message, "fail") || strstr(st->message, "error") ||
              strstr(st->message, "cannot") || strstr(st->message, "diverged");
    int warn = strstr(st->message, "warn") || strstr(st->message, "slow");
    ui_loop_msg(l, bad ? ROLE_ERROR : warn ? ROLE_PAUSED : ROLE_OK, "%s: %s", r->name,
                st->message);
}

/* ---- messages and the stack --------------------------------------------------------------- */

void ui_loop_msg(ui_loop *l, int role, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char full[1200];
    vsnprintf(full, sizeof full, fmt, ap);
    va_end(ap);
    snprintf(l->msg, sizeof l->msg, "%s", full);
    msglog_add(&l->log, role, full);
    l->msg_role = role;
    l->msg_until = term_now_ms() + MSG_MS;
    l->dirty = 1;
}

const char *ui_loop_message(const ui_loop *l)
{
    return term_now_ms() < l->msg_until ? l->msg : NULL;
}

void ui_loop_changed(ui_loop *l)
{
    l->dirty = 1;
}

void ui_loop_stale(ui_loop *l)
{
    l->stale = 1;
}

void ui_loop_quit(ui_loop *l)
{
    l->quit = 1;
}

void ui_loop_set_base(ui_loop *l, ui_screen *s)
{
    l->layers[0] = s;
    l->nlayers = 1;
    l->dirty = 1;
}

ui_screen *ui_loop_base(const ui_loop *l)
{
    return l->nlayers ? l->layers[0] : NULL;
}

void ui_loop_push(ui_loop *l, ui_screen *s)
{
    if (l->nlayers >= UI_MAX_LAYERS || l->nlayers == 0)
        return;
    int at = l->nlayers;
    while (at > 1 && l->layers[at - 1]->pinned && !s->pinned)
        at--;
    memmove(&l->layers[at + 1], &l->layers[at], (size_t)(l->nlayers - at) * sizeof *l->layers);
    l->layers[at] = s;
    l->nlayers++;
    l->dirty = 1;
}

void ui_loop_pop(ui_loop *l, ui_screen *s)
{
    for (int i = 1; i < l->nlayers; i++)
        if (l->layers[i] == s) {
            memmove(&l->layers[i], &l->layers[i + 1],
                    (size_t)(l->nlayers - i - 1) * sizeof *l->layers);
            l->nlayers--;
            l->dirty = 1;
            return;
        }
}

/* ---- stats -------------------------------------------------------------------------------- */

static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void stats_tick(ui_loop *l, int force)
{
    if (!l->stats)
        return;
    double now = term_now_ms();
    if (!force && now - l->stats_t0 < 5000)
        return;
    double dt = (now - l->stats_t0) / 1000, cpu = thread_cpu_s();
    if (dt > 0)
        fprintf(l->stats, "seconds %.2f frames %d frames_per_s %.2f ui_cpu_pct %.2f\n", dt,
                l->stats_frames, l->stats_frames / dt, 100 * (cpu - l->stats_cpu0) / dt);
    fflush(l->stats);
    l->stats_t0 = now;
    l->stats_cpu0 = cpu;
    l->stats_frames = 0;
}

/* ---- open, close ---------------------------------------------------------------------------- */

void ui_loop_init(ui_loop *l, const ui_term_opts *t)
{
    memset(l, 0, sizeof *l);
    l->refresh_ms = t && t->refresh_ms > 0 ? t->refresh_ms : REFRESH_MS;
}

int ui_loop_open(ui_loop *l, const ui_term_opts *t, char *msg, int msglen)
{
    if (term_open(&l->term, t, msg, msglen))
        return -1;
    const char *p = getenv("NORMLAB_UI_STATS");
    if (p && *p) {
        l->stats = fopen(p, "a");
        l->stats_t0 = term_now_ms();
        l->stats_cpu0 = thread_cpu_s();
    }
    return 0;
}

void ui_loop_close(ui_loop *l)
{
    stats_tick(l, 1);
    if (l->stats)
        fclose(l->stats);
    l->stats = NULL;
    term_close(&l->term);
}

/* ---- the loop ------------------------------------------------------------------------------- */

/* A key to the top screen, then down the stack while screens pass it on. */
static void on_key(ui_loop *l, int key)
{
    l->dirty = 1;
    if (key == UI_KEY(KEY_RESIZE))
        return;
    for (int i = l->nlayers - 1; i >= 0; i--) {
        ui_screen *s = l->layers[i];
        if (s->ops->key && s->ops->key(s, l, key))
            return;
    }
}

static void draw(ui_loop *l)
{
    int first = 0;
    for (int i = l->nlayers - 1; i >= 0 && !first; i--)
        if (l->layers[i]->opaque)
            first = i;
    /* a screen may change the stack while drawing (it never should): draw a copy */
    ui_screen *stack[UI_MAX_LAYERS];
    int n = l->nlayers;
    memcpy(stack, l->layers, (size_t)n * sizeof *stack);
    for (int i = first; i < n; i++)
        stack[i]->ops->draw(stack[i], l, &l->term.grid);
    term_blit(&l->term);
    l->stats_frames++;
}

/* Milliseconds until the next frame is due (<= 0: now), INFINITY when nothing waits. A
 * key or a state change is drawn within FRAME_MS, new metrics within the refresh period. */
static double next_frame_in(const ui_loop *l, double now)
{
    double since = now - l->last_draw;
    if (l->dirty)
        return FRAME_MS - since;
    if (l->stale)
        return l->refresh_ms - since;
    return INFINITY;
}

/* Every key already typed, before drawing. */
static void take_keys(ui_loop *l, int wait)
{
    int key = term_key(&l->term, wait);
    if (key == UI_KEY_NONE)
        return;
    on_key(l, key);
    int more = 0;
    while (more++ < 64 && (key = term_key(&l->term, 0)) != UI_KEY_NONE && !l->quit)
        on_key(l, key);
}

int ui_loop_run(ui_loop *l)
{
    int sig = 0;
    l->dirty = 1;
    while (!l->quit) {
        double left = next_frame_in(l, term_now_ms());
        /* wake at least every 100 ms to take in metrics and signals */
        take_keys(l, left > 100 ? 100 : left > 0 ? (int)left + 1 : 0);
        if (l->src && l->src->ops->poll)
            l->src->ops->poll(l->src, l);
        if ((sig = term_quit_signal()) && !ui_source_busy(l->src)) {
            if (l->src && l->src->ops->finish)
                l->src->ops->finish(l->src, l, UI_NEXT_QUIT);
            else
                l->quit = 1;
        }
        for (int i = 0; i < l->nlayers; i++)
            if (l->layers[i]->ops->tick)
                l->layers[i]->ops->tick(l->layers[i], l);
        double now = term_now_ms();
        if (l->msg_until > 0 && now >= l->msg_until) {
            l->msg_until = 0;
            l->dirty = 1;
        }
        left = next_frame_in(l, now);
        if (left <= 0.5 && !l->quit) {
            draw(l);
            l->dirty = l->stale = 0;
            l->last_draw = now;
        }
        stats_tick(l, 0);
    }
    return sig;
}
