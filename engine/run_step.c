/* A run's evaluation and its training step (run.h). */
#include "run_internal.h"

int nl_run_eval(nl_run *r, int batches, float *loss, nl_error *err)
{
    double sum = 0;
    int B = r->cfg.train.batch;
    for (int i = 0; i < batches; i++) {
        float l;
        if (nl_data_val_batch(r->data, i, r->tok, r->tgt, B, err))
            return err ? err->code : NL_ERR_RUN;
        if (nl_model_forward(r->model, r->tok, r->tgt, B, &l, NULL, NULL, err))
            return err ? err->code : NL_ERR_RUN;
        sum += l;
    }
    *loss = batches > 0 ? (float)(sum / batches) : NAN;
    return 0;
}

static nl_run_state fail_run(nl_run *r, nl_error *err)
{
    r->state = NL_RUN_FAILED;
    nl_run_log_event(r, "failed: %s", err ? err->msg : "error");
    return r->state;
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
    int B = t->batch, T = r->cfg.model.seq_len;
    float lr = nl_lr_at(t, r->step) * r->lr_scale;
    double t0 = nl_clock_s();
    nl_error derr = {0};
    if (nl_data_next_batch(r->data, r->tok, r->tgt, B, &derr)) {
        /* nothing of this step has happened yet (the data position is as it was): a
         * checkpoint here lets the run go on once the data is back */
        nl_error serr = {0};
        char path[600];
        size_t n = strlen(derr.msg);
        if (r->dir[0] && nl_run_save(r, path, sizeof path, &serr) == 0)
            snprintf(derr.msg + n, sizeof derr.msg - n, "; checkpoint %s written", path);
        else if (r->dir[0])
            snprintf(derr.msg + n, sizeof derr.msg - n, "; the checkpoint failed too: %s",
                     serr.msg);
        if (err)
            *err = derr;
        return fail_run(r, &derr);
    }
    /* forward, backward, statistics and update (step.h: plain, or one CUDA graph) */
    nl_moe_stats ms = {r->moe_layers, r->E, r->frac, r->ent, r->gnr, r->gne};
    nl_step_out so;
    int src = nl_step_run(r->stepper, r->tok, r->tgt, B, lr, r->gn_attn, r->gn_ffn, r->rms,
                          r->moe_layers ? &ms : NULL, &so, err);
    const char *note = nl_step_take_note(r->stepper);
    if (*note)
        nl_run_log_event(r, "%s", note);
    if (src)
        return fail_run(r, err);
    float loss = so.loss, aux = so.aux, z = so.z, gnorm = so.grad_norm;
    bool bad = so.bad;
    double dt = nl_clock_s() - t0;
    r->step++;
    r->tokens += (int64_t)B * T;
    r->time_s += dt;
    float val = NAN;
    if (!bad && t->eval_every > 0 && (r->step % t->eval_every == 0 || r->step == t->steps)) {
        double e0 = nl_clock_s();
        if (nl_run_eval(r, t->eval_batches, &val, err))
            return fail_run(r, err);
        r->time_s += nl_clock_s() - e0; /* time_s counts validation; tok_s (from dt) does not */
    }
    nl_metrics_row row = {r->step,
                          r->tokens,
                          r->time_s,
                          lr,
                          loss,
                          val,
                          gnorm,
                          dt > 0 ? (float)((double)B * T / dt) : 0.0f,
                          r->moe_layers ? aux : NAN,
                          r->moe_layers ? z : NAN,
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
    if (r->csv) {
        nl_metrics_csv_row(r->csv, &row, r->L, r->moe_layers, r->E);
        if (nl_run_csv_flush(r, err))
            return fail_run(r, err);
    }
    /* divergence: NaN/Inf at once, or loss above factor x the first loss for a run of steps */
    if (r->step == 1 || r->initial_loss == 0.0f)
        r->initial_loss = loss;
    if (bad) {
        r->state = NL_RUN_DIVERGED;
        nl_run_log_event(r, "diverged at step %lld: %s", (long long)r->step,
                         !isfinite(loss) ? "loss is not finite" : "gradient norm is not finite");
        return r->state;
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
        return r->state;
    }
    /* no periodic checkpoint while the loss is above the divergence threshold: should the
     * run diverge, the checkpoints kept are from before it went bad */
    if (r->dir[0] && t->ckpt_every > 0 && r->step % t->ckpt_every == 0 && r->step < t->steps &&
        r->bad_steps == 0) {
        if (nl_run_save(r, NULL, 0, err))
            return fail_run(r, err);
    }
    if (r->step >= t->steps) {
        r->state = NL_RUN_FINISHED;
        if (r->dir[0] && nl_run_save(r, NULL, 0, err))
            return fail_run(r, err);
        nl_run_log_event(r, "finished: loss %.4f after %lld steps", loss, (long long)r->step);
    }
    return r->state;
}
