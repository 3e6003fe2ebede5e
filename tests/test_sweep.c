/* Sweep definitions, cell names, run configs, sweep.yaml and sweep.csv round trips, the
 * per-cell statistics and the table (engine/sweep.h). The command itself: tests/sh/sweep.sh. */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../engine/sweep.h"
#include "t.h"

static char tmpdir[256];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/nl_test_sweep_XXXXXX");
    if (!mkdtemp(tmpdir))
        tmpdir[0] = '\0';
}

static void remove_tmpdir(void)
{
    if (tmpdir[0]) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", tmpdir);
    }
}

/* placement=pre,post x layers=2,6 x warmup=0,50, 3 seeds */
static void def_3axes(nl_sweep_def *d)
{
    nl_sweep_def_init(d);
    nl_error err = {0};
    T_CHECK(nl_sweep_add_axis(d, "model.placement=pre,post", &err) == 0, "%s", err.msg);
    T_CHECK(nl_sweep_add_axis(d, "model.layers=2, 6", &err) == 0, "%s", err.msg);
    T_CHECK(nl_sweep_add_axis(d, "train.warmup=0,50", &err) == 0, "%s", err.msg);
    d->seeds = 3;
}

static void test_axes_and_names(void)
{
    nl_sweep_def *d = malloc(sizeof *d);
    def_3axes(d);
    T_CHECK(d->n_axes == 3, "n_axes %d", d->n_axes);
    T_CHECK(nl_sweep_cells(d) == 8 && nl_sweep_runs(d) == 24, "cells %d runs %d", nl_sweep_cells(d),
            nl_sweep_runs(d));
    T_CHECK(!strcmp(d->axes[1].values[1], "6"), "value trimmed: '%s'", d->axes[1].values[1]);
    T_CHECK(d->axes[0].bare && !d->axes[1].bare, "placement is an enum, layers is not");
    T_CHECK(!strcmp(d->axes[1].label, "layers"), "label '%s'", d->axes[1].label);
    int idx[NL_SWEEP_MAX_AXES];
    nl_sweep_cell_index(d, 5, idx); /* 5 = 1*4 + 0*2 + 1: post, 2, 50 */
    T_CHECK(idx[0] == 1 && idx[1] == 0 && idx[2] == 1, "cell 5 -> %d %d %d", idx[0], idx[1],
            idx[2]);
    T_CHECK(nl_sweep_cell_of(d, idx) == 5, "round trip");
    char name[256];
    nl_sweep_cell_name(d, 5, name, sizeof name);
    T_CHECK(!strcmp(name, "post_layers2_warmup50"), "cell name '%s'", name);
    nl_sweep_run_name(d, 2, 1, name, sizeof name);
    T_CHECK(!strcmp(name, "pre_layers6_warmup0-s1"), "run name '%s'", name);

    /* two keys ending alike: labels become the whole keys */
    nl_sweep_def_init(d);
    nl_error err = {0};
    T_CHECK(nl_sweep_add_axis(d, "model.custom.attn.pre=true,false", &err) == 0, "%s", err.msg);
    T_CHECK(!strcmp(d->axes[0].label, "pre"), "single label '%s'", d->axes[0].label);
    T_CHECK(nl_sweep_add_axis(d, "model.custom.ffn.pre=true,false", &err) == 0, "%s", err.msg);
    T_CHECK(!strcmp(d->axes[0].label, "model.custom.attn.pre") &&
                !strcmp(d->axes[1].label, "model.custom.ffn.pre"),
            "shared labels '%s' '%s'", d->axes[0].label, d->axes[1].label);
    nl_sweep_cell_name(d, 1, name, sizeof name);
    T_CHECK(!strcmp(name, "model.custom.attn.pretrue_model.custom.ffn.prefalse"), "name '%s'",
            name);

    /* errors name the key or value */
    const char *bad[][2] = {{"model.layers", "expected KEY=V1"},
                            {"model.layers=2,x", "'x'"},
                            {"model.layers=2,,3", "empty value"},
                            {"model.layers=2,2", "listed twice"},
                            {"model.nope=1", "nope"},
                            {"data.source=text:a/b,text:a-b", "same directory name"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        nl_sweep_def_init(d);
        nl_error e = {0};
        int rc = nl_sweep_add_axis(d, bad[i][0], &e);
        T_CHECK(rc == NL_ERR_USAGE && strstr(e.msg, bad[i][1]), "'%s': rc %d, '%s'", bad[i][0], rc,
                e.msg);
        T_CHECK(d->n_axes == 0, "'%s' left an axis behind", bad[i][0]);
    }
    free(d);
}

static void test_run_config(void)
{
    nl_sweep_def *d = malloc(sizeof *d);
    def_3axes(d);
    nl_config base, c;
    nl_config_defaults(&base);
    base.train.seed = 100;
    nl_error err = {0};
    T_CHECK(nl_sweep_run_config(d, &base, 5, 2, &c, &err) == 0, "%s", err.msg);
    T_CHECK(c.model.placement == NL_PLACE_POST && c.model.layers == 2 && c.train.warmup == 50,
            "values: placement %d layers %d warmup %d", (int)c.model.placement, c.model.layers,
            c.train.warmup);
    T_CHECK(c.train.seed == 102, "seed %llu", (unsigned long long)c.train.seed);
    T_CHECK(!strcmp(c.name, "post_layers2_warmup50-s2"), "name '%s'", c.name);
    T_CHECK(base.train.warmup != 50 || base.model.layers != 2, "base left alone");

    /* a combination that does not validate names the run */
    nl_sweep_def_init(d);
    T_CHECK(nl_sweep_add_axis(d, "model.heads=2,3", &err) == 0, "%s", err.msg);
    base.model.d_model = 16;
    T_CHECK(nl_sweep_run_config(d, &base, 0, 0, &c, &err) == 0, "heads 2: %s", err.msg);
    int rc = nl_sweep_run_config(d, &base, 1, 0, &c, &err);
    T_CHECK(rc == NL_ERR_USAGE && strstr(err.msg, "heads3-s0"), "rc %d '%s'", rc, err.msg);
    free(d);
}

static void test_def_yaml(void)
{
    nl_sweep_def *d = malloc(sizeof *d), *e = malloc(sizeof *e);
    def_3axes(d);
    snprintf(d->preset, sizeof d->preset, "presets/depth-sweep.yaml");
    char *text = nl_sweep_def_yaml(d);
    char path[300];
    snprintf(path, sizeof path, "%s/sweep.yaml", tmpdir);
    FILE *f = fopen(path, "w");
    T_CHECK(f && text, "write %s", path);
    if (f && text) {
        fputs(text, f);
        fclose(f);
    }
    nl_error err = {0};
    T_CHECK(nl_sweep_def_load(path, e, &err) == 0, "%s", err.msg);
    char why[256] = "";
    T_CHECK(nl_sweep_def_same(e, d, why, sizeof why), "round trip differs: %s", why);
    T_CHECK(!strcmp(e->preset, d->preset), "preset '%s'", e->preset);
    T_CHECK(e->axes[0].bare && !strcmp(e->axes[2].label, "warmup"), "labels after load");

    e->seeds = 2;
    T_CHECK(!nl_sweep_def_same(e, d, why, sizeof why) && strstr(why, "seeds: 2 there, 3 now"),
            "seeds: '%s'", why);
    e->seeds = 3;
    snprintf(e->axes[1].values[1], sizeof e->axes[1].values[1], "12");
    T_CHECK(!nl_sweep_def_same(e, d, why, sizeof why) &&
                strstr(why, "model.layers: 2,12 there, 2,6 now"),
            "values: '%s'", why);
    snprintf(e->axes[1].values[1], sizeof e->axes[1].values[1], "6");
    e->n_axes = 2;
    T_CHECK(!nl_sweep_def_same(e, d, why, sizeof why) && strstr(why, "train.warmup"), "axes: '%s'",
            why);

    /* a broken file names its line */
    f = fopen(path, "w");
    if (f) {
        fputs("seeds: 3\nvary:\n  model.layers: [2, x]\n", f);
        fclose(f);
    }
    int rc = nl_sweep_def_load(path, e, &err);
    T_CHECK(rc == NL_ERR_USAGE && strstr(err.msg, "sweep.yaml:3:") && strstr(err.msg, "'x'"),
            "rc %d '%s'", rc, err.msg);
    free(text);
    free(d);
    free(e);
}

static nl_sweep_result result(int cell, int seed, float val, bool div)
{
    nl_sweep_result r = {0};
    r.cell = cell;
    r.seed = seed;
    r.train_loss = div ? NAN : val + 0.125f;
    r.val_loss = div ? NAN : val;
    r.best_loss = div ? 5.5f : val - 0.25f;
    r.diverged = div;
    r.diverged_step = div ? 37 : 0;
    r.steps = div ? 37 : 100;
    r.tok_s = 12345.5f;
    snprintf(r.run_dir, sizeof r.run_dir, "cell%d-s%d", cell, seed);
    return r;
}

static void test_csv(void)
{
    nl_sweep_def *d = malloc(sizeof *d);
    def_3axes(d);
    char path[300];
    snprintf(path, sizeof path, "%s/sweep.csv", tmpdir);
    unlink(path);
    nl_sweep_result in[3] = {result(5, 2, 3.25f, false), result(0, 0, 0, true),
                             result(7, 1, 2.5f, false)};
    nl_error err = {0};
    for (int i = 0; i < 3; i++)
        T_CHECK(nl_sweep_csv_append(path, d, &in[i], &err) == 0, "append %d: %s", i, err.msg);
    FILE *f = fopen(path, "r");
    char line[512] = "";
    T_CHECK(f && fgets(line, sizeof line, f), "read header");
    T_CHECK(!strcmp(line, "model.placement,model.layers,train.warmup,seed,train_loss,val_loss,"
                          "best_loss,diverged,diverged_step,steps,tok_s,run_dir\n"),
            "header '%s'", line);
    T_CHECK(fgets(line, sizeof line, f) &&
                !strcmp(line, "post,2,50,2,3.375,3.25,3,no,,100,12345.5,cell5-s2\n"),
            "row 1 '%s'", line);
    T_CHECK(fgets(line, sizeof line, f) &&
                !strcmp(line, "pre,2,0,0,,,5.5,yes,37,37,12345.5,cell0-s0\n"),
            "row 2 '%s'", line);
    if (f)
        fclose(f);

    nl_sweep_result *rows = NULL;
    int n = 0;
    T_CHECK(nl_sweep_csv_read(path, d, &rows, &n, &err) == 0, "%s", err.msg);
    T_CHECK(n == 3, "rows %d", n);
    for (int i = 0; i < n && i < 3; i++) {
        T_CHECK(rows[i].cell == in[i].cell && rows[i].seed == in[i].seed, "row %d key", i);
        T_CHECK(rows[i].diverged == in[i].diverged &&
                    rows[i].diverged_step == in[i].diverged_step && rows[i].steps == in[i].steps,
                "row %d flags", i);
        T_CHECK(isnan(in[i].val_loss) ? isnan(rows[i].val_loss)
                                      : rows[i].val_loss == in[i].val_loss,
                "row %d val %g", i, (double)rows[i].val_loss);
        T_NEAR(rows[i].best_loss, in[i].best_loss, 1e-6, "best_loss");
        T_NEAR(rows[i].tok_s, in[i].tok_s, 1e-6, "tok_s");
        T_CHECK(!strcmp(rows[i].run_dir, in[i].run_dir), "run_dir '%s'", rows[i].run_dir);
    }
    free(rows);

    /* a torn last line: ignored when reading, cut off before the next append */
    int fd = open(path, O_WRONLY | O_APPEND);
    T_CHECK(fd >= 0 && write(fd, "pre,6,0,1,3.1", 13) == 13, "tear");
    if (fd >= 0)
        close(fd);
    T_CHECK(nl_sweep_csv_read(path, d, &rows, &n, &err) == 0 && n == 3, "torn read: %d %s", n,
            err.msg);
    free(rows);
    nl_sweep_result more = result(1, 1, 3.0f, false);
    T_CHECK(nl_sweep_csv_append(path, d, &more, &err) == 0, "%s", err.msg);
    T_CHECK(nl_sweep_csv_read(path, d, &rows, &n, &err) == 0 && n == 4, "after torn: %d %s", n,
            err.msg);
    T_CHECK(n == 4 && rows[3].cell == 1 && rows[3].seed == 1, "appended row after the cut");
    free(rows);

    /* a value the sweep does not have, and a header of another sweep */
    fd = open(path, O_WRONLY | O_APPEND);
    const char *bad = "pre,24,0,1,3,3,3,no,,100,1,x\n";
    T_CHECK(fd >= 0 && write(fd, bad, strlen(bad)) == (ssize_t)strlen(bad), "write bad row");
    if (fd >= 0)
        close(fd);
    int rc = nl_sweep_csv_read(path, d, &rows, &n, &err);
    T_CHECK(rc == NL_ERR_USAGE && strstr(err.msg, "sweep.csv:6:") && strstr(err.msg, "'24'"),
            "rc %d '%s'", rc, err.msg);
    T_CHECK(rows == NULL && n == 0, "no rows on error");
    d->n_axes = 2;
    rc = nl_sweep_csv_read(path, d, &rows, &n, &err);
    T_CHECK(rc == NL_ERR_USAGE && strstr(err.msg, ":1:"), "header: rc %d '%s'", rc, err.msg);

    snprintf(path, sizeof path, "%s/missing.csv", tmpdir);
    T_CHECK(nl_sweep_csv_read(path, d, &rows, &n, &err) == 0 && n == 0, "missing file");
    free(d);
}

static void test_load_dir(void)
{
    nl_sweep_def *d = malloc(sizeof *d), *back = malloc(sizeof *back);
    def_3axes(d);
    char dir[300], path[340];
    snprintf(dir, sizeof dir, "%s/dir", tmpdir);
    mkdir(dir, 0755);
    nl_sweep_result *rows = NULL;
    int n = -1;
    nl_error err = {0};
    int rc = nl_sweep_load_dir(dir, back, &rows, &n, &err);
    T_CHECK(rc == NL_ERR_IO && strstr(err.msg, "sweep.yaml") && n == 0, "no sweep.yaml: rc %d '%s'",
            rc, err.msg);
    char *text = nl_sweep_def_yaml(d);
    snprintf(path, sizeof path, "%s/sweep.yaml", dir);
    FILE *f = fopen(path, "w");
    if (f && text)
        fputs(text, f);
    if (f)
        fclose(f);
    free(text);
    T_CHECK(nl_sweep_load_dir(dir, back, &rows, &n, &err) == 0 && n == 0 && back->seeds == 3 &&
                back->n_axes == 3,
            "before any row: rc '%s', %d rows", err.msg, n);
    free(rows);
    snprintf(path, sizeof path, "%s/sweep.csv", dir);
    nl_sweep_result r = result(6, 1, 2.75f, false);
    T_CHECK(nl_sweep_csv_append(path, d, &r, &err) == 0, "%s", err.msg);
    T_CHECK(nl_sweep_load_dir(dir, back, &rows, &n, &err) == 0 && n == 1, "one row: '%s' %d",
            err.msg, n);
    T_CHECK(n == 1 && rows[0].cell == 6 && rows[0].seed == 1 && rows[0].val_loss == 2.75f,
            "the row read back");
    free(rows);
    free(d);
    free(back);
}

/* placement=pre,post x layers=2,6, 3 seeds, with known values */
static void def_2x2(nl_sweep_def *d)
{
    nl_sweep_def_init(d);
    nl_error err = {0};
    T_CHECK(nl_sweep_add_axis(d, "model.placement=pre,post", &err) == 0, "%s", err.msg);
    T_CHECK(nl_sweep_add_axis(d, "model.layers=2,6", &err) == 0, "%s", err.msg);
    d->seeds = 3;
}

static int rows_2x2(nl_sweep_result *r)
{
    int n = 0;
    r[n++] = result(0, 0, 9.0f, false); /* replaced by the later row of the same run */
    r[n++] = result(0, 0, 3.0f, false);
    r[n++] = result(0, 1, 3.2f, false);
    r[n++] = result(0, 2, 3.4f, false);
    r[n++] = result(1, 0, 3.0f, false);
    r[n++] = result(1, 1, 3.2f, false);
    r[n++] = result(1, 2, 0, true);
    r[n++] = result(2, 0, 2.9f, false);
    r[n++] = result(2, 1, 3.0f, false);
    r[n++] = result(2, 2, 3.1f, false);
    return n; /* cell 3 (post, 6 layers): not run */
}

static void test_summary_and_table(void)
{
    nl_sweep_def *d = malloc(sizeof *d);
    def_2x2(d);
    nl_sweep_result r[16];
    int n = rows_2x2(r);
    nl_sweep_cell_stats st[4];
    nl_sweep_summarise(d, r, n, st);
    T_CHECK(st[0].runs == 3 && st[0].ok == 3 && st[0].diverged == 0, "cell 0 counts");
    T_NEAR(st[0].mean, 3.2, 1e-6, "cell 0 mean");
    T_NEAR(st[0].sd, 0.2, 1e-6, "cell 0 sd");
    T_CHECK(st[1].runs == 3 && st[1].ok == 2 && st[1].diverged == 1, "cell 1 counts");
    T_NEAR(st[1].mean, 3.1, 1e-6, "cell 1 mean");
    T_NEAR(st[1].sd, 0.1414213562, 1e-6, "cell 1 sd");
    T_NEAR(st[2].mean, 3.0, 1e-6, "cell 2 mean");
    T_NEAR(st[2].sd, 0.1, 1e-6, "cell 2 sd");
    T_CHECK(st[3].runs == 0 && isnan(st[3].mean), "cell 3 not run");

    T_CHECK(!nl_sweep_is_best(d, st, 0) && nl_sweep_is_best(d, st, 2), "column layers=2");
    T_CHECK(nl_sweep_is_best(d, st, 1) && !nl_sweep_is_best(d, st, 3), "column layers=6");

    char *t = nl_sweep_table(d, st, false);
    const char *want =
        "final validation loss, mean +- sd over 3 seeds; (k div): k seeds diverged, left out of "
        "the mean; * best in its column\n"
        "\n"
        "placement  layers=2       layers=6\n"
        "pre        3.200+-0.200   3.100+-0.141 (1 div)*\n"
        "post       3.000+-0.100*  not run\n";
    T_CHECK(t && !strcmp(t, want), "table:\n%s\nwanted:\n%s", t ? t : "(null)", want);
    free(t);
    t = nl_sweep_table(d, st, true);
    T_CHECK(t && strstr(t, "pre        3.200\xc2\xb1"
                           "0.200   3.100\xc2\xb1"
                           "0.141 (1 div)*\n"),
            "utf8 table aligned by characters:\n%s", t ? t : "(null)");
    free(t);

    /* a diverged seed outweighs a lower mean; a missing seed shows as [n/N] */
    r[n++] = result(3, 0, 1.0f, false);
    nl_sweep_summarise(d, r, n, st);
    T_CHECK(nl_sweep_is_best(d, st, 3) && !nl_sweep_is_best(d, st, 1),
            "post/6 (no divergence, 1 seed) beats pre/6 (1 of 3 diverged)");
    t = nl_sweep_table(d, st, false);
    T_CHECK(t && strstr(t, "1.000 [1/3]*"), "partial cell:\n%s", t ? t : "(null)");
    free(t);
    free(d);
}

static void test_table_blocks(void)
{
    nl_sweep_def *d = malloc(sizeof *d);
    def_3axes(d);
    d->seeds = 1;
    nl_sweep_result r[8];
    for (int c = 0; c < 8; c++)
        r[c] = result(c, 0, 3.0f + 0.01f * (float)c, c == 6);
    nl_sweep_cell_stats st[8];
    nl_sweep_summarise(d, r, 8, st);
    char *t = nl_sweep_table(d, st, false);
    const char *want =
        "final validation loss, mean +- sd over 1 seed; (k div): k seeds diverged, left out of "
        "the mean; * best in its column\n"
        "\n"
        "warmup=0\n"
        "placement  layers=2  layers=6\n"
        "pre        3.000*    3.020*\n"
        "post       3.040     - (1 div)\n"
        "\n"
        "warmup=50\n"
        "placement  layers=2  layers=6\n"
        "pre        3.010*    3.030*\n"
        "post       3.050     3.070\n";
    T_CHECK(t && !strcmp(t, want), "table:\n%s\nwanted:\n%s", t ? t : "(null)", want);
    free(t);
    free(d);
}

int main(void)
{
    make_tmpdir();
    T_RUN(test_axes_and_names);
    T_RUN(test_run_config);
    T_RUN(test_def_yaml);
    T_RUN(test_csv);
    T_RUN(test_load_dir);
    T_RUN(test_summary_and_table);
    T_RUN(test_table_blocks);
    remove_tmpdir();
    T_END();
}
