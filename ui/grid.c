#include "grid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int grid_init(ui_grid *g, int w, int h)
{
    g->w = g->h = 0;
    g->cells = NULL;
    return grid_resize(g, w, h);
}

int grid_resize(ui_grid *g, int w, int h)
{
    if (w < 0)
        w = 0;
    if (h < 0)
        h = 0;
    size_t n = (size_t)w * (size_t)h;
    ui_cell *c = n ? malloc(n * sizeof *c) : NULL;
    if (n && !c)
        return -1;
    free(g->cells);
    g->cells = c;
    g->w = w;
    g->h = h;
    grid_clear(g);
    return 0;
}

void grid_free(ui_grid *g)
{
    free(g->cells);
    g->cells = NULL;
    g->w = g->h = 0;
}

void grid_clear(ui_grid *g)
{
    size_t n = (size_t)g->w * (size_t)g->h;
    for (size_t i = 0; i < n; i++)
        g->cells[i] = (ui_cell){L' ', ROLE_NORMAL, 0};
}

ui_cell *grid_at(ui_grid *g, int x, int y)
{
    if (x < 0 || y < 0 || x >= g->w || y >= g->h)
        return NULL;
    return &g->cells[(size_t)y * (size_t)g->w + (size_t)x];
}

void grid_put(ui_grid *g, int x, int y, wchar_t ch, int role, int attr)
{
    ui_cell *c = grid_at(g, x, y);
    if (c)
        *c = (ui_cell){ch, (uint8_t)role, (uint8_t)attr};
}

void grid_fill(ui_grid *g, ui_rect r, wchar_t ch, int role, int attr)
{
    for (int y = r.y; y < r.y + r.h; y++)
        for (int x = r.x; x < r.x + r.w; x++)
            grid_put(g, x, y, ch, role, attr);
}

/* Decode one UTF-8 sequence at s; *len gets its byte length (1 for an invalid byte). */
static wchar_t utf8_next(const unsigned char *s, int *len)
{
    unsigned c = s[0];
    int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0) {
        *len = 1;
        return L'?';
    }
    unsigned v = n == 1 ? c : n == 2 ? (c & 0x1f) : n == 3 ? (c & 0x0f) : (c & 0x07);
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            *len = i;
            return L'?';
        }
        v = (v << 6) | (s[i] & 0x3f);
    }
    *len = n;
    return (wchar_t)v;
}

int text_cells(const char *utf8)
{
    int n = 0, len;
    for (const unsigned char *s = (const unsigned char *)utf8; *s; s += len, n++)
        utf8_next(s, &len);
    return n;
}

int grid_text(ui_grid *g, int x, int y, int maxw, int role, int attr, const char *utf8)
{
    if (maxw < 0)
        maxw = g->w - x;
    int n = 0, len;
    for (const unsigned char *s = (const unsigned char *)utf8; *s && n < maxw; s += len) {
        wchar_t ch = utf8_next(s, &len);
        if (ch == L'\n' || ch == L'\t')
            ch = L' ';
        grid_put(g, x + n, y, ch, role, attr);
        n++;
    }
    return n;
}

int grid_textf(ui_grid *g, int x, int y, int maxw, int role, int attr, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return grid_text(g, x, y, maxw, role, attr, buf);
}

static size_t utf8_put(char *out, wchar_t wc)
{
    unsigned v = (unsigned)wc;
    if (v < 0x80) {
        out[0] = (char)v;
        return 1;
    }
    if (v < 0x800) {
        out[0] = (char)(0xc0 | (v >> 6));
        out[1] = (char)(0x80 | (v & 0x3f));
        return 2;
    }
    if (v < 0x10000) {
        out[0] = (char)(0xe0 | (v >> 12));
        out[1] = (char)(0x80 | ((v >> 6) & 0x3f));
        out[2] = (char)(0x80 | (v & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (v >> 18));
    out[1] = (char)(0x80 | ((v >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((v >> 6) & 0x3f));
    out[3] = (char)(0x80 | (v & 0x3f));
    return 4;
}

void grid_row_utf8(const ui_grid *g, int y, char *buf, size_t len)
{
    size_t keep = 0;
    if (len == 0)
        return;
    if (y >= 0 && y < g->h) {
        size_t n = 0;
        for (int x = 0; x < g->w; x++) {
            char tmp[4];
            size_t k = utf8_put(tmp, g->cells[(size_t)y * (size_t)g->w + (size_t)x].ch);
            if (n + k + 1 > len)
                break;
            memcpy(buf + n, tmp, k);
            n += k;
            if (!(k == 1 && tmp[0] == ' '))
                keep = n;
        }
    }
    buf[keep] = '\0';
}

char *grid_dump(const ui_grid *g)
{
    size_t row = (size_t)g->w * 4 + 2;
    char *out = malloc(row * (size_t)(g->h > 0 ? g->h : 1) + 1);
    if (!out)
        return NULL;
    size_t n = 0;
    out[0] = '\0';
    for (int y = 0; y < g->h; y++) {
        grid_row_utf8(g, y, out + n, row);
        n += strlen(out + n);
        out[n++] = '\n';
        out[n] = '\0';
    }
    return out;
}

ui_rect rect_inset(ui_rect r, int d)
{
    ui_rect o = {r.x + d, r.y + d, r.w - 2 * d, r.h - 2 * d};
    if (o.w < 0)
        o.w = 0;
    if (o.h < 0)
        o.h = 0;
    return o;
}

void grid_box(ui_grid *g, ui_rect r, const char *title, int title_role, ui_glyphs glyphs)
{
    if (r.w < 2 || r.h < 2)
        return;
    int a = glyphs == UI_GLYPH_ASCII;
    wchar_t hz = a ? L'-' : L'─', vt = a ? L'|' : L'│';
    wchar_t tl = a ? L'+' : L'┌', tr = a ? L'+' : L'┐', bl = a ? L'+' : L'└', br = a ? L'+' : L'┘';
    for (int x = r.x + 1; x < r.x + r.w - 1; x++) {
        grid_put(g, x, r.y, hz, ROLE_AXIS, 0);
        grid_put(g, x, r.y + r.h - 1, hz, ROLE_AXIS, 0);
    }
    for (int y = r.y + 1; y < r.y + r.h - 1; y++) {
        grid_put(g, r.x, y, vt, ROLE_AXIS, 0);
        grid_put(g, r.x + r.w - 1, y, vt, ROLE_AXIS, 0);
    }
    grid_put(g, r.x, r.y, tl, ROLE_AXIS, 0);
    grid_put(g, r.x + r.w - 1, r.y, tr, ROLE_AXIS, 0);
    grid_put(g, r.x, r.y + r.h - 1, bl, ROLE_AXIS, 0);
    grid_put(g, r.x + r.w - 1, r.y + r.h - 1, br, ROLE_AXIS, 0);
    if (title && *title && r.w > 4) {
        grid_put(g, r.x + 1, r.y, L' ', title_role, 0);
        int n = grid_text(g, r.x + 2, r.y, r.w - 5, title_role, UI_A_BOLD, title);
        grid_put(g, r.x + 2 + n, r.y, L' ', title_role, 0);
    }
}

/* Without a UTF-8 locale only ASCII can be shown: the few non-ASCII characters of the
 * interface get a look-alike, anything else a '?'. */
wchar_t grid_ascii_fold(wchar_t c)
{
    if (c < 128)
        return c;
    switch (c) {
    case L'─':
    case L'━':
    case L'╌':
    case L'—':
    case L'–':
        return L'-';
    case L'│':
        return L'|';
    case L'┌':
    case L'┐':
    case L'└':
    case L'┘':
    case L'┤':
    case L'┬':
    case L'┴':
    case L'├':
        return L'+';
    case L'•':
    case L'●':
        return L'o';
    case L'█':
    case L'▓':
        return L'#';
    case L'▶':
    case L'›':
        return L'>';
    case L'◀':
    case L'‹':
        return L'<';
    case L'·':
        return L'.';
    case L'×':
        return L'x';
    case L'…':
        return L'.';
    case L'▲':
        return L'^';
    case L'▼':
        return L'v';
    default:
        return L'?';
    }
}
