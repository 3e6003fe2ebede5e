/* Errors the engine hands back to its caller. The engine never prints and never exits:
 * a function that can fail takes an nl_error* and returns nonzero (or NULL) on failure,
 * with a message that names the file, line, key or tensor at fault. Only app/ decides
 * what to print and which exit code to use. */
#ifndef NL_ERROR_H
#define NL_ERROR_H

#include <stddef.h>

enum {
    NL_OK = 0,
    NL_ERR_USAGE = 2, /* bad input: preset, key, value, file format */
    NL_ERR_IO = 3,    /* a file could not be read or written */
    NL_ERR_RUN = 1,   /* the run failed (divergence where asked to fail, backend failure) */
};

typedef struct nl_error {
    int code;       /* one of the NL_ERR_* above; 0 when no error was set */
    char msg[1024]; /* one line, no trailing newline */
} nl_error;

/* Set err (when non-NULL) and return code, so that `return nl_fail(err, NL_ERR_USAGE, ...)`
 * reads naturally. */
int nl_fail(nl_error *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void nl_error_clear(nl_error *err);

#endif
