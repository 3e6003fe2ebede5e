/* A run's evaluation and its training step (run.h). */
#include "run_internal.h"

/* This rank's rows of a global batch of train.batch rows (all of them with one process). */
static int local_rows(const nl_run *r)
{
    return r->cfg.train.batch / r->dp_size;
}
static const int32_t *local_slice(const nl_run *r, const int32_t *a)
{
    return a + (int64_t)r->dp_rank * local_rows(r) * r->cfg.model.seq_len;
}

int nl_run_eval(nl_run *r, int batches, float *loss, nl_error *err)
{
    double sum = 0;
    int B = r->cfg.train.batch;
    for (int i = 0; i < batches; i++) {
        float l;
        if (nl_data_val_batch(r->data, i, r->tok, r->tgt, B, err))
            return err ? err->code : NL_ERR_RUN;
        if (nl_model_forward(r->model, local_slice(r, r->tok), local_slice(r, r->tgt),
                             local_rows(r), &l, NULL, NULL, err))
            return err ? err->code : NL_ERR_RUN;
        sum += l;
    }
    *loss = batches > 0 ? (float)(sum / batches) : NAN;
    nl_dist_mean(loss, batches > 0); /* equal slices: the mean of the ranks' means */
    return 0;
}

static nl_run_state fail_run(nl_run *r, nl_error *err)
{
    r->state = NL_RUN_FAILED;
    nl_run_log_event(r, "failed: %s", err ? err->msg : "error");
    return r->state;
}

/* The step's global batch (every rank draws all of it, so the data position stays that of
 * one process, and steps its own rows). Nonzero when the data failed on any rank; the run
 * has then failed, with a checkpoint to go on from once the data is back. */
static int fetch_batch(nl_run *r, nl_error *err)
{
    nl_error derr = {0};
    int bad = nl_data_next_batch(r->data, r->tok, r->tgt, r->cfg.train.batch, &derr);
    if (!nl_dist_any(bad != 0))
        return 0;
    if (!bad)
        snprintf(derr.msg, sizeof derr.msg, "the data failed on another rank");
    /* nothing of this step has happened yet (the data position is as it was) */
    nl_error serr = {0};
    char path[600];
    size_t n = strlen(derr.msg);
    if (r->dir[0] && nl_run_save(r, path, sizeof path, &serr) == 0)
        snprintf(derr.msg + n, sizeof derr.msg - n, "; checkpoint %s written", path);
    else if (r->dir[0])
        snprintf(derr.msg + n, sizeof derr.msg - n, "; the checkpoint failed too: %s", serr.msg);
    nl_dist_any(false); /* the ranks end once rank 0's checkpoint is written */
    if (err)
        *err = derr;
    fail_run(r, &derr);
    return 1;
}

/* With several ranks: the averages over the batch that each rank computed over its slice
 * become those of the global batch (equal slices: the mean of the ranks' values; the RMS
 * through its square). Gradient norms need nothing: the gradients are already the mean. */
static void share_batch_stats(nl_run *r, float *loss, float *aux, float *z)
{
    int L = r->L, M = r->moe_layers, ME = M * r->E;
    float *b = r->dp_buf;
    b[0] = *loss, b[1] = *aux, b[2] = *z;
    for (int l = 0; l < L; l++)
        b[3 + l] = r->rms[l] * r->rms[l];
    if (M) { /* dense models have no router statistics (frac, ent NULL) */
        memcpy(b + 3 + L, r->frac, sizeof(float) * (size_t)ME);
        memcpy(b + 3 + L + ME, r->ent, sizeof(float) * (size_t)M);
    }
    nl_dist_mean(b, 3 + L + ME + M);
    *loss = b[0], *aux = b[1], *z = b[2];
    for (int l = 0; l < L; l++)
        r->rms[l] = sqrtf(b[3 + l]);
    if (M) {
        memcpy(r->frac, b + 3 + L, sizeof(float) * (size_t)ME);
        memcpy(r->ent, b + 3 + L + ME, sizeof(float) * (size_t)M);
    }
}

/* Forward and backward on this rank's rows, the gradients averaged over the ranks, and the
 * step's statistics. */
static int compute_grads(nl_run *r, float *loss, float *aux, float *z, float *gnorm, nl_error *err)
{
    if (nl_model_forward(r->model, local_slice(r, r->tok), local_slice(r, r->tgt), local_rows(r),
                         loss, aux, z, err) ||
        nl_model_backward(r->model, err) ||
        nl_dist_grad_mean(r->k, nl_model_grads(r->model), nl_model_num_params(r->model), err))
        return 1;
    nl_moe_stats ms = {r->moe_layers, r->E, r->frac, r->ent, r->gnr, r->gne};
    nl_model_stats(r->model, gnorm, r->gn_attn, r->gn_ffn, r->rms, r->moe_layers ? &ms : NULL);
    share_batch_stats(r, loss, aux, z); /* only called with several ranks (train_step) */
    return 0;
}

/* Forward, backward, statistics and update. One process: the step module (step.h: plain,
 * queued, or one CUDA graph), whose note on a capture goes to events.log. Several ranks: op by
 * op on this rank's rows, the gradients and batch averages shared between the backward and
 * the update (compute_grads), so such steps are never captured. */
static int train_step(nl_run *r, float lr, nl_step_out *so, nl_error *err)
{
    if (r->dp_size <= 1) {
        nl_moe_stats ms = {r->moe_layers, r->E, r->frac, r->ent, r->gnr, r->gne};
        int rc = nl_step_run(r->stepper, r->tok, r->tgt, r->cfg.train.batch, lr, r->gn_attn,
                             r->gn_ffn, r->rms, r->moe_layers ? &ms : NULL, so, err);
        const char *note = nl_step_take_note(r->stepper);
        if (*note)
            nl_run_log_event(r, "%s", note);
        return rc;
    }
    so->loss = so->aux = so->z = so->grad_norm = NAN;
    if (compute_grads(r, &so->loss, &so->aux, &so->z, &so->grad_norm, err))
        return 1;
    so->bad = !isfinite(so->loss) || !isfinite(so->grad_norm);
    return !so->bad && nl_optim_step(r->optim, lr, true, NULL, err); /* compute_grads summed */
}

/* The step's row: the ring, metrics.csv and nl_run_last_row. */
static int record_row(nl_run *r, float lr, float loss, float aux, float z, float val, float gnorm,
                      double dt, nl_error *err)
{
    double tokens = (double)r->cfg.train.batch * r->cfg.model.seq_len;
    bool moe = r->moe_layers > 0;
    nl_metrics_row row = {r->step,
                          r->tokens,
                          r->time_s,
                          lr,
                          loss,
                          val,
                          gnorm,
                          dt > 0 ? (float)(tokens / dt) : 0.0f,
                          moe ? aux : NAN,
                          moe ? z : NAN,
                          r->gn_attn,
                          r->gn_ffn,
                          r->rms,
                          r->frac,
                          r->ent,
                          r->gnr,
                          r->gne};
    r->last = row;
    r->has_last = true;
    if (r->store)
        nl_metrics_push(r->store, &row);
    if (!r->csv)
        return 0;
    nl_metrics_csv_row(r->csv, &row, r->L, r->moe_layers, r->E);
    return nl_run_csv_flush(r, err);
}

/* Divergence: NaN/Inf at once, or the loss above factor x the first loss for a run of
 * steps. Returns true when the run has diverged. */
static bool diverged(nl_run *r, const nl_train_config *t, float loss, bool bad)
{
    if (r->step == 1 || r->initial_loss == 0.0f)
        r->initial_loss = loss;
    if (bad) {
        r->state = NL_RUN_DIVERGED;
        nl_run_log_event(r, "diverged at step %lld: %s", (long long)r->step,
                         !isfinite(loss) ? "loss is not finite" : "gradient norm is not finite");
        return true;
    }
    if (t->diverge_factor > 0 && loss > t->diverge_factor * r->initial_loss)
        r->bad_steps++;
    else
        r->bad_steps = 0;
    if (t->diverge_patience > 0 && r->bad_steps >= t->diverge_patience) {
        r->state = NL_RUN_DIVERGED;
        nl_run_log_event(
            r, "diverged at step %lld: loss %.4g above %.3g x the initial %.4g for %d steps",
            (long long)r->step, loss, t->diverge_factor, r->initial_loss, r->bad_steps);
        return true;
    }
    return false;
}

/* The periodic checkpoint and the end of the run. No periodic checkpoint while the loss is
 * above the divergence threshold: should the run diverge, the checkpoints kept are from
 * before it went bad. */
static int after_step(nl_run *r, const nl_train_config *t, float loss, nl_error *err)
{
    if (r->dir[0] && t->ckpt_every > 0 && r->step % t->ckpt_every == 0 && r->step < t->steps &&
        r->bad_steps == 0 && nl_run_save(r, NULL, 0, err))
        return 1;
    if (r->step >= t->steps) {
        r->state = NL_RUN_FINISHED;
        if (r->dir[0] && nl_run_save(r, NULL, 0, err))
            return 1;
        nl_run_log_event(r, "finished: loss %.4f after %lld steps", loss, (long long)r->step);
    }
    return 0;
}

nl_run_state nl_run_step(nl_run *r, nl_error *err)
{
    if (r->state == NL_RUN_FINISHED || r->state == NL_RUN_DIVERGED || r->state == NL_RUN_FAILED ||
        r->state == NL_RUN_STOPPED)
        return r->state;
    const nl_train_config *t = &r->cfg.train;
    if (r->step >= t->steps) {
        r->state = NL_RUN_FINISHED;
        return r->state;
    }
    if (r->state == NL_RUN_READY)
        r->state = NL_RUN_RUNNING;
    float lr = nl_lr_at(t, r->step) * r->lr_scale;
    double t0 = nl_clock_s();
    if (fetch_batch(r, err))
        return r->state;
    nl_step_out so;
    if (train_step(r, lr, &so, err))
        return fail_run(r, err);
    float loss = so.loss, aux = so.aux, z = so.z, gnorm = so.grad_norm;
    bool bad = so.bad;
    double dt = nl_clock_s() - t0;
    r->step++;
    r->tokens += (int64_t)t->batch * r->cfg.model.seq_len;
    r->time_s += dt;
    float val = NAN;
    if (!bad && t->eval_every > 0 && (r->step % t->eval_every == 0 || r->step == t->steps)) {
        double e0 = nl_clock_s();
        if (nl_run_eval(r, t->eval_batches, &val, err))
            return fail_run(r, err);
        r->time_s += nl_clock_s() - e0; /* time_s counts validation; tok_s (from dt) does not */
    }
    if (record_row(r, lr, loss, aux, z, val, gnorm, dt, err))
        return fail_run(r, err);
    if (diverged(r, t, loss, bad))
        return r->state;
    if (after_step(r, t, loss, err))
        return fail_run(r, err);
    return r->state;
}
