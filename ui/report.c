/* `normlab report`: the page (its style, its sections from report_sections.c, and writing
 * it), over run directories or a sweep directory. */
#include "report.h"
#include "engine/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/sweep.h"
#include "report_internal.h"


static const char CSS[] =
    "body{margin:0;background:#fff;color:#1b1b1b;font:15px/1.5 system-ui,-apple-system,"
    "'Segoe UI','DejaVu Sans','Helvetica Neue',Arial,sans-serif}\n"
    "main{max-width:980px;margin:0 auto;padding:28px 24px 48px}\n"
    "h1{font-size:26px;line-height:1.25;margin:0 0 6px;font-weight:650}\n"
    "h2{font-size:19px;margin:34px 0 8px;padding-bottom:4px;border-bottom:1px solid #ddd;"
    "font-weight:620}\n"
    "h3{font-size:15px;margin:18px 0 4px;font-weight:600}\n"
    ".sub{color:#555;margin:0 0 4px}\n"
    "code,.mono{font-family:'DejaVu Sans Mono',Menlo,Consolas,monospace;font-size:13px}\n"
    "table{border-collapse:collapse;font-variant-numeric:tabular-nums;font-size:14px;"
    "margin:6px 0}\n"
    "th,td{padding:4px 10px;border-bottom:1px solid #e3e3e3;text-align:left;"
    "vertical-align:top}\n"
    "th{font-weight:600;border-bottom:1.5px solid #999;white-space:nowrap}\n"
    "td.n,th.n{text-align:right}\n"
    "tr.same td{color:#666}\n"
    ".scroll{overflow-x:auto}\n"
    ".notes{background:#fff8e6;border-left:4px solid #e0a000;padding:8px 14px;margin:14px 0}\n"
    ".notes ul{margin:4px 0;padding-left:20px}\n"
    ".state-diverged,.state-failed{color:#b00020;font-weight:600}\n"
    ".state-in{color:#8a5a00}\n"
    ".best{font-weight:700}\n"
    "figure{margin:10px 0 18px}\n"
    "figcaption{color:#444;font-size:13.5px;max-width:880px}\n"
    "svg{max-width:100%;height:auto;font-family:inherit}\n"
    "svg text{font-size:12px;fill:#333}\n"
    "svg .ptitle{font-size:14px;font-weight:600;fill:#1b1b1b}\n"
    "svg .alabel{font-size:13px;fill:#1b1b1b}\n"
    "svg .empty{font-size:14px;fill:#888}\n"
    "svg .grid line{stroke:#ececec;stroke-width:1}\n"
    "svg .ticks line{stroke:#555;stroke-width:1}\n"
    "svg .frame{fill:none;stroke:#555;stroke-width:1}\n"
    "svg .heatbg{fill:#f7f7f7}\n"
    "svg.key{vertical-align:middle;margin-right:6px}\n"
    "details{margin:8px 0}summary{cursor:pointer;color:#333}\n"
    "footer{margin-top:40px;color:#777;font-size:13px}\n"
    "@media print{main{max-width:none;padding:0}h2{break-after:avoid}"
    "figure,table,.notes{break-inside:avoid}.scroll{overflow:visible}}\n";

/* ---- the config diff ---- */

static void config_diff(report *rp, rp_run **cols, int nc)
{
    int count = 0;
    const nl_config_key_info *keys = nl_config_keys(&count);
    rp->n_keys = count;
    rp->diff_keys = calloc((size_t)count + 1, sizeof *rp->diff_keys);
    if (!rp->diff_keys)
        return;
    for (int k = 0; k < count; k++) {
        if (!strcmp(keys[k].key, "name"))
            continue; /* every run has its own; the columns say it */
        char first[512] = "", v[512];
        int have = 0, differs = 0;
        for (int i = 0; i < nc; i++) {
            nl_error err = {0};
            if (!cols[i]->cfg || nl_config_get(cols[i]->cfg, keys[k].key, v, sizeof v, &err))
                continue;
            if (!have) {
                snprintf(first, sizeof first, "%s", v);
                have = 1;
            } else if (strcmp(first, v) != 0) {
                differs = 1;
            }
        }
        if (differs)
            rp->diff_keys[rp->n_diff++] = keys[k].key;
    }
}

/* ---- the page, and writing it ---- */

static int write_atomic(const char *out, const rp_buf *b, nl_error *err)
{
    return nl_write_file_atomic(out, b->p, b->n, err);
}

static int render(report *rp, const char *out, int *n_notes, nl_error *err)
{
    rp_run *cols[REPORT_MAX_RUNS];
    int nc = rp_representatives(rp, cols, REPORT_MAX_RUNS);
    config_diff(rp, cols, nc);
    if (n_notes)
        *n_notes = rp->notes.n + rp->notes.dropped;
    rp_buf body = {0}, page = {0};
    char title[512] = "";
    rp_put_title(&body, rp, title, sizeof title);
    rp_put_notes(&body, rp);
    rp_put_summary(&body, rp);
    rp_put_loss(&body, rp);
    rp_put_heatmaps(&body, rp);
    rp_put_rms(&body, rp);
    rp_put_config(&body, rp);
    if (rp->is_sweep)
        rp_put_sweep(&body, rp);
    rp_puts(&page, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                   "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                   "<meta name=\"generator\" content=\"normlab report\">\n<title>");
    rp_html(&page, title);
    rp_printf(&page, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<main>\n", CSS);
    if (body.p)
        rp_puts(&page, body.p);
    rp_puts(&page, "<footer>normlab report: loss, per-layer gradient norms and residual RMS from "
                   "each run's metrics.csv; configs from its config.yaml; states from its "
                   "events.log.</footer>\n</main>\n</body>\n</html>\n");
    int rc = 0;
    if (body.oom || page.oom)
        rc = nl_fail(err, NL_ERR_IO, "%s: out of memory while writing the report", out);
    else
        rc = write_atomic(out, &page, err);
    rp_buf_free(&body);
    rp_buf_free(&page);
    return rc;
}

static void report_free(report *rp)
{
    for (int i = 0; i < rp->n; i++)
        rp_run_free(&rp->runs[i]);
    free(rp->runs);
    free(rp->rows);
    free(rp->cell_names);
    free((void *)rp->diff_keys);
    rp_notes_free(&rp->notes);
}

/* Two runs of the same name (from different parents) are told apart by their parent. */
static void unique_names(report *rp)
{
    for (int i = 0; i < rp->n; i++)
        for (int j = 0; j < i; j++)
            if (!strcmp(rp->runs[i].name, rp->runs[j].name)) {
                char parent[1024];
                snprintf(parent, sizeof parent, "%s", rp->runs[i].dir);
                char *slash = strrchr(parent, '/');
                if (slash) {
                    *slash = '\0';
                    const char *p = strrchr(parent, '/');
                    char name[160];
                    snprintf(name, sizeof name, "%.60s/%.90s", p ? p + 1 : parent,
                             rp->runs[i].name);
                    snprintf(rp->runs[i].name, sizeof rp->runs[i].name, "%s", name);
                }
                break;
            }
}

int report_write_runs(const char *const *dirs, int n, const char *out, const report_opts *o,
                      int *n_notes, nl_error *err)
{
    if (n < 1)
        return nl_fail(err, NL_ERR_USAGE, "report: no run directory given");
    report rp;
    memset(&rp, 0, sizeof rp);
    rp.notes.echo = o ? o->notes : NULL;
    rp.title = o ? o->title : NULL;
    int take = n > REPORT_MAX_RUNS ? REPORT_MAX_RUNS : n;
    rp.runs = calloc((size_t)take, sizeof *rp.runs);
    if (!rp.runs)
        return nl_fail(err, NL_ERR_IO, "report: out of memory");
    if (n > take)
        rp_note(&rp.notes,
                "%d run directories given: the first %d are in the report, %d left "
                "out",
                n, take, n - take);
    for (int i = 0; i < take; i++) {
        if (rp_run_load(&rp.runs[rp.n], dirs[i], &rp.notes)) {
            rp_run_free(&rp.runs[rp.n]);
            report_free(&rp);
            return nl_fail(err, NL_ERR_IO, "%s: out of memory reading the run", dirs[i]);
        }
        rp.runs[rp.n].style = rp.n;
        rp.n++;
    }
    for (int i = 0; i < rp.n; i++)
        if (rp.runs[i].state == RP_IN_PROGRESS)
            rp_note(&rp.notes,
                    "%s: still in progress at step %lld (events.log has no final "
                    "line yet): the report shows it so far",
                    rp.runs[i].dir, (long long)rp_last_step(&rp.runs[i]));
    unique_names(&rp);
    int rc = render(&rp, out, n_notes, err);
    report_free(&rp);
    return rc;
}

int report_write_sweep(const char *dir, const char *out, const report_opts *o, int *n_notes,
                       nl_error *err)
{
    report rp;
    memset(&rp, 0, sizeof rp);
    rp.notes.echo = o ? o->notes : NULL;
    rp.title = o ? o->title : NULL;
    rp.is_sweep = 1;
    snprintf(rp.sweep_dir, sizeof rp.sweep_dir, "%s", dir);
    size_t dl = strlen(rp.sweep_dir);
    while (dl > 1 && rp.sweep_dir[dl - 1] == '/')
        rp.sweep_dir[--dl] = '\0';
    char path[1200];
    snprintf(path, sizeof path, "%s/sweep.yaml", rp.sweep_dir);
    if (nl_sweep_def_load(path, &rp.def, err))
        return err->code ? err->code : NL_ERR_USAGE;
    snprintf(path, sizeof path, "%s/sweep.csv", rp.sweep_dir);
    nl_error e2 = {0};
    if (nl_sweep_csv_read(path, &rp.def, &rp.rows, &rp.n_rows, &e2))
        rp_note(&rp.notes, "%s (the sweep table is left out)", e2.msg);
    else
        rp.have_rows = 1;
    rp.cells = nl_sweep_cells(&rp.def);
    rp.cell_names = calloc((size_t)rp.cells, sizeof *rp.cell_names);
    rp.runs = calloc(REPORT_MAX_RUNS, sizeof *rp.runs);
    if (!rp.cell_names || !rp.runs) {
        report_free(&rp);
        return nl_fail(err, NL_ERR_IO, "report: out of memory");
    }
    int missing = 0, over = 0;
    for (int c = 0; c < rp.cells; c++) {
        nl_sweep_cell_name(&rp.def, c, rp.cell_names[c], sizeof rp.cell_names[c]);
        for (int s = 0; s < rp.def.seeds; s++) {
            char name[256], rdir[1400];
            nl_sweep_run_name(&rp.def, c, s, name, sizeof name);
            snprintf(rdir, sizeof rdir, "%s/%s", rp.sweep_dir, name);
            struct stat st;
            if (stat(rdir, &st) != 0 || !S_ISDIR(st.st_mode)) {
                missing++;
                continue;
            }
            if (rp.n >= REPORT_MAX_RUNS) {
                over++;
                continue;
            }
            if (rp_run_load(&rp.runs[rp.n], rdir, &rp.notes)) {
                rp_run_free(&rp.runs[rp.n]);
                report_free(&rp);
                return nl_fail(err, NL_ERR_IO, "%s: out of memory reading the run", rdir);
            }
            rp_run *r = &rp.runs[rp.n++];
            r->cell = c;
            r->seed = s;
            r->style = c;
            if (r->state == RP_IN_PROGRESS)
                rp_note(&rp.notes, "%s: still in progress at step %lld: shown so far", r->dir,
                        (long long)rp_last_step(r));
        }
    }
    if (missing)
        rp_note(&rp.notes, "%d of the sweep's %d runs have no directory yet (not started)", missing,
                rp.cells * rp.def.seeds);
    if (over)
        rp_note(&rp.notes, "%d runs left out of the curves: a report holds at most %d", over,
                REPORT_MAX_RUNS);
    int rc = render(&rp, out, n_notes, err);
    report_free(&rp);
    return rc;
}

int report_save_race(const char *const *dirs, int n, char *path, int pathlen, int *n_notes,
                     nl_error *err)
{
    if (n < 1)
        return nl_fail(err, NL_ERR_USAGE, "no run directory to report on yet");
    /* the directory that holds every run, if they share one */
    char parent[1024];
    snprintf(parent, sizeof parent, "%s", dirs[0]);
    size_t pl = strlen(parent);
    while (pl > 1 && parent[pl - 1] == '/')
        parent[--pl] = '\0';
    char *slash = strrchr(parent, '/');
    int shared = slash != NULL;
    if (slash)
        *slash = '\0';
    for (int i = 1; i < n && shared; i++) {
        size_t k = strlen(parent);
        shared = !strncmp(dirs[i], parent, k) && dirs[i][k] == '/' && !strchr(dirs[i] + k + 1, '/');
    }
    if (shared)
        snprintf(path, (size_t)pathlen, "%s/report.html", parent[0] ? parent : "/");
    else
        snprintf(path, (size_t)pathlen, "report.html");
    report_opts o = {NULL, NULL};
    return report_write_runs(dirs, n, path, &o, n_notes, err);
}
