/* Shared by the libFuzzer harnesses: each input is written to a file in one private
 * directory (the readers under test take paths), and a failed invariant aborts so that
 * libFuzzer keeps the input. */
#ifndef NL_FUZZ_UTIL_H
#define NL_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char fz_dir[64];

/* The directory for this process's files, created once and removed at exit. */
static void fz_cleanup(void)
{
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fz_dir);
    if (fz_dir[0] && system(cmd) != 0)
        fprintf(stderr, "fuzz: cannot remove %s\n", fz_dir);
}

static const char *fz_workdir(void)
{
    if (!fz_dir[0]) {
        snprintf(fz_dir, sizeof fz_dir, "/tmp/normlab-fuzz.XXXXXX");
        if (!mkdtemp(fz_dir)) {
            perror("fuzz: mkdtemp");
            abort();
        }
        atexit(fz_cleanup);
    }
    return fz_dir;
}

/* dir/name := data; returns the path (static storage, one per name slot). */
static const char *fz_write(const char *name, const uint8_t *data, size_t n, const char *mode)
{
    static char paths[4][256];
    static int slot;
    char *path = paths[slot++ & 3];
    snprintf(path, 256, "%s/%s", fz_workdir(), name);
    FILE *f = fopen(path, mode);
    if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f) != 0) {
        perror(path);
        abort();
    }
    return path;
}

#define FZ_ASSERT(cond, ...)                                                                       \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz invariant failed: %s: ", #cond);                                 \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
