/* `normlab watch`'s metrics.csv reader (ui/tail.c). The input is split at a point chosen by
 * its first byte and arrives in two polls, as a file being appended to does; then the file is
 * cut back (as a resume does) and read again. Lines that are skipped are counted, and what is
 * shown stays within the run's layers. */
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_util.h"
#include "ui/tail.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t n = size - 1, cut = n ? data[0] * n / 255 : 0;
    const uint8_t *csv = data + 1;
    char dir[300];
    snprintf(dir, sizeof dir, "%s/run", fz_workdir());
    mkdir(dir, 0755);
    fz_write("run/metrics.csv", csv, cut, "wb");
    run_tail t;
    ui_run rv;
    char msg[256];
    FZ_ASSERT(tail_open(&t, dir, &rv, msg, sizeof msg) == 0, "tail_open: %s", msg);
    tail_poll(&t, &rv);
    fz_write("run/metrics.csv", csv + cut, n - cut, "ab");
    tail_poll(&t, &rv);
    FZ_ASSERT(t.csv_off == (long long)n, "read %lld of %zu bytes", t.csv_off, n);
    FZ_ASSERT(t.bad_lines >= 0, "bad_lines");
    FZ_ASSERT(!t.have_header || (t.layers >= 1 && rv.st.layers == t.layers), "layers %d / %d",
              t.layers, rv.st.layers);
    fz_write("run/metrics.csv", csv, cut / 2, "wb");
    tail_poll(&t, &rv);
    FZ_ASSERT(t.csv_off == (long long)(cut / 2), "after the cut: at %lld, file %zu", t.csv_off,
              cut / 2);
    tail_close(&t);
    runview_free(&rv);
    return 0;
}
