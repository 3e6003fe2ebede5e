/* The checkpoints of a run directory, by name: ckpt-STEP.nlck (ckpt.h), pruning, the newest,
 * and the unfinished ckpt-STEP.nlck.tmp a killed writer leaves. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt.h"
#include "xalloc.h"

/* ---- pruning ----------------------------------------------------------------------------- */

typedef struct ckpt_entry {
    uint64_t step;
    char *name;
} ckpt_entry;

/* ckpt-<digits>.nlck → step (saturating), or -1 for any other name. */
static int parse_ckpt_name(const char *name, uint64_t *step)
{
    if (strncmp(name, "ckpt-", 5) != 0)
        return -1;
    const char *p = name + 5;
    uint64_t v = 0;
    if (*p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned digit = (unsigned)(*p - '0');
        v = v > (UINT64_MAX - digit) / 10 ? UINT64_MAX : v * 10 + digit;
    }
    if (strcmp(p, ".nlck") != 0)
        return -1;
    *step = v;
    return 0;
}

static int entry_newest_first(const void *a, const void *b)
{
    const ckpt_entry *x = a, *y = b;
    if (x->step != y->step)
        return x->step < y->step ? 1 : -1;
    return strcmp(y->name, x->name);
}

/* The regular files ckpt-<digits>.nlck of the open directory d, newest first. */
static int scan_ckpts(DIR *d, const char *dir, ckpt_entry **out, size_t *count, nl_error *err)
{
    ckpt_entry *e = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        uint64_t step;
        struct stat st;
        if (parse_ckpt_name(de->d_name, &step) != 0)
            continue;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (n == cap) {
            size_t ncap = cap ? 2 * cap : 16;
            ckpt_entry *grown = nl_realloc(e, ncap * sizeof *e);
            if (!grown) {
                rc = nl_fail(err, NL_ERR_IO, "%s: out of memory", dir);
                break;
            }
            e = grown;
            cap = ncap;
        }
        e[n].step = step;
        e[n].name = nl_strdup(de->d_name);
        if (!e[n].name) {
            rc = nl_fail(err, NL_ERR_IO, "%s: out of memory", dir);
            break;
        }
        n++;
    }
    if (n)
        qsort(e, n, sizeof *e, entry_newest_first);
    *out = e;
    *count = n;
    return rc;
}

static void free_ckpts(ckpt_entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(e[i].name);
    free(e);
}

/* Delete all but the newest keep (>= 0) checkpoints of dir. */
static int remove_older(const char *dir, int keep, nl_error *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return nl_fail(err, NL_ERR_IO, "%s: cannot open directory: %s", dir, strerror(errno));
    ckpt_entry *e = NULL;
    size_t n = 0;
    int rc = scan_ckpts(d, dir, &e, &n, err);
    if (!rc) /* a partial list could name the wrong files */
        for (size_t i = (size_t)keep; i < n; i++)
            if (unlinkat(dirfd(d), e[i].name, 0) != 0 && !rc)
                rc = nl_fail(err, NL_ERR_IO, "%s/%s: cannot remove: %s", dir, e[i].name,
                             strerror(errno));
    closedir(d);
    free_ckpts(e, n);
    return rc;
}

int nl_ckpt_prune(const char *dir, int keep, nl_error *err)
{
    if (keep < 1)
        return nl_fail(err, NL_ERR_USAGE, "%s: prune must keep at least 1 checkpoint", dir);
    return remove_older(dir, keep, err);
}

int nl_ckpt_remove_all(const char *dir, nl_error *err)
{
    struct stat st;
    if (stat(dir, &st) != 0 && errno == ENOENT)
        return 0;
    return remove_older(dir, 0, err);
}

int nl_ckpt_remove_unfinished(const char *dir, void (*removed)(void *ctx, const char *name),
                              void *ctx)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n_removed = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (strncmp(de->d_name, "ckpt-", 5) != 0 || n < 9 + 5 ||
            strcmp(de->d_name + n - 9, ".nlck.tmp") != 0)
            continue;
        if (unlinkat(dirfd(d), de->d_name, 0) == 0) {
            n_removed++;
            if (removed)
                removed(ctx, de->d_name);
        }
    }
    closedir(d);
    return n_removed;
}

int nl_ckpt_newest(const char *dir, char *name, size_t len)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    ckpt_entry *e = NULL;
    size_t n = 0;
    int found = scan_ckpts(d, dir, &e, &n, NULL) == 0 && n > 0;
    if (found)
        snprintf(name, len, "%s", e[0].name);
    closedir(d);
    free_ckpts(e, n);
    return found;
}
