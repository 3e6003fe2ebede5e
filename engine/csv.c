#include "csv.h"

#include <string.h>

/* At the opening quote of a field: unquote it in place, leaving p at what follows the closing
 * quote. Returns the field, or NULL when the quote is never closed. */
static char *unquote(char **p)
{
    char *field = *p + 1, *out = field, *in = field;
    for (;;) {
        if (!*in)
            return NULL;
        if (*in == '"') {
            if (in[1] != '"')
                break;
            in++; /* "" is one quote */
        }
        *out++ = *in++;
    }
    *p = in + 1;
    *out = '\0'; /* out <= in: the closing quote's place or before it */
    return field;
}

int nl_csv_split(char *line, char **fields, int max)
{
    size_t len = strlen(line);
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        line[--len] = '\0';
    int n = 0;
    char *p = line;
    for (;;) {
        char *field = p;
        if (*p == '"') {
            if (!(field = unquote(&p)) || (*p && *p != ','))
                return -1;
        } else {
            p += strcspn(p, ",");
        }
        int more = *p == ',';
        if (more)
            *p++ = '\0';
        if (n < max)
            fields[n] = field;
        n++;
        if (!more)
            return n;
    }
}
