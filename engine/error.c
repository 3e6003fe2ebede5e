#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int nl_fail(nl_error *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

void nl_error_clear(nl_error *err)
{
    if (err) {
        err->code = 0;
        err->msg[0] = '\0';
    }
}
