#include "msglog.h"

#include <stdio.h>
#include <string.h>

void msglog_add(ui_msglog *l, int role, const char *text)
{
    /* the same text again within a second is one message */
    const ui_msg *last = l->count ? msglog_at(l, l->count - 1) : NULL;
    time_t now = time(NULL);
    if (last && last->role == role && !strcmp(last->text, text) && now - last->when < 1)
        return;
    ui_msg *m = &l->m[l->head];
    m->when = now;
    m->role = role;
    snprintf(m->text, sizeof m->text, "%s", text);
    l->head = (l->head + 1) % MSGLOG_CAP;
    if (l->count < MSGLOG_CAP)
        l->count++;
    l->total++;
}

const ui_msg *msglog_at(const ui_msglog *l, int i)
{
    if (i < 0 || i >= l->count)
        return NULL;
    int first = (l->head - l->count + MSGLOG_CAP) % MSGLOG_CAP;
    return &l->m[(first + i) % MSGLOG_CAP];
}

/* Rows a text of `cells` cells takes at width w. */
static int rows_for(const char *text, int w)
{
    int n = text_cells(text);
    return w > 0 ? (n + w - 1) / w + (n == 0) : 1;
}

void msglog_draw(ui_grid *g, ui_rect r, const ui_msglog *l, int *scroll, ui_glyphs glyphs)
{
    if (r.w < 20 || r.h < 3)
        return;
    grid_fill(g, r, L' ', ROLE_NORMAL, 0);
    char title[96];
    snprintf(title, sizeof title, "Messages · %d · m hides", l->count);
    grid_box(g, r, title, ROLE_TITLE, glyphs);
    int inner = r.h - 2, tw = r.w - 4 - 9; /* "HH:MM:SS " before each message */
    if (l->count == 0) {
        grid_text(g, r.x + 2, r.y + 1, r.w - 4, ROLE_DIM, 0, "no messages yet");
        return;
    }
    /* rows every message needs, newest last; the window ends `scroll` rows before the end */
    int total = 0;
    for (int i = 0; i < l->count; i++)
        total += rows_for(msglog_at(l, i)->text, tw);
    int max_scroll = total > inner ? total - inner : 0;
    if (*scroll > max_scroll)
        *scroll = max_scroll;
    if (*scroll < 0)
        *scroll = 0;
    int first_row = total - inner - *scroll; /* row index (over all messages) at the top */
    int row = 0;
    for (int i = 0; i < l->count; i++) {
        const ui_msg *m = msglog_at(l, i);
        int need = rows_for(m->text, tw);
        for (int k = 0; k < need; k++, row++) {
            int y = r.y + 1 + row - first_row;
            if (y <= r.y || y >= r.y + r.h - 1)
                continue;
            if (k == 0) {
                struct tm tm;
                localtime_r(&m->when, &tm);
                char ts[16];
                strftime(ts, sizeof ts, "%H:%M:%S", &tm);
                grid_text(g, r.x + 2, y, 8, ROLE_DIM, 0, ts);
            }
            /* the k-th slice of tw cells of the text */
            const unsigned char *s = (const unsigned char *)m->text;
            int cells = 0, i0 = 0;
            while (s[i0] && cells < k * tw) {
                i0++;
                while ((s[i0] & 0xc0) == 0x80)
                    i0++;
                cells++;
            }
            grid_text(g, r.x + 2 + 9, y, tw, m->role, 0, (const char *)s + i0);
        }
    }
    if (*scroll > 0 || first_row > 0) {
        char more[48];
        snprintf(more, sizeof more, " %s%s ", first_row > 0 ? "older above" : "",
                 *scroll > 0 ? (first_row > 0 ? ", newer below" : "newer below") : "");
        grid_text(g, r.x + r.w - 2 - text_cells(more), r.y + r.h - 1, text_cells(more), ROLE_DIM, 0,
                  more);
    }
}
