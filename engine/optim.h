/* AdamW with decoupled weight decay and global-norm clipping, over the model's flat buffers.
 * The moments m, v share the parameters' layout. Weight decay applies to tensors whose
 * nl_tensor.decay is set (matrices, unless train.decay_all). */
#ifndef NL_OPTIM_H
#define NL_OPTIM_H

#include "config.h"
#include "error.h"
#include "model.h"

typedef struct nl_optim nl_optim;

nl_optim *nl_optim_create(nl_model *m, const nl_train_config *t, nl_error *err);
void nl_optim_free(nl_optim *o);

/* One update from the model's current gradients: global norm, clip (train.clip), AdamW at
 * learning rate lr. The step counter t (for bias correction) advances by one. *grad_norm
 * receives the global norm before clipping (may be NULL). sums_ready: nl_model_stats has
 * just summed the squares of these very gradients (the step's own statistics), and the
 * update takes the global norm from those sums instead of reading every gradient again. */
int nl_optim_step(nl_optim *o, float lr, bool sums_ready, float *grad_norm, nl_error *err);

/* An update queued with the rest of a step, its scalars in backend memory (engine/step.c),
 * where the backend has adamw_dev and step_guard (nl_optim_has_dev):
 * nl_optim_dev_begin advances t and copies [lr, bc1, bc2] to the backend (outside any capture,
 * before the step's ops); nl_optim_dev_ops queues clipping, the bad-step test (the LM loss sum
 * loss_sum / loss_div, and the global norm from the sums nl_model_stats_ops queued) and AdamW,
 * which changes nothing when the test fails; nl_optim_dev_undo takes t back after such a
 * step. The bits are those of nl_optim_step for the same gradients. */
bool nl_optim_has_dev(const nl_optim *o);
void nl_optim_dev_begin(nl_optim *o, float lr);
void nl_optim_dev_ops(nl_optim *o, const float *loss_sum, float loss_div);
void nl_optim_dev_undo(nl_optim *o);

int64_t nl_optim_t(const nl_optim *o); /* updates taken */
void nl_optim_set_t(nl_optim *o, int64_t t);
/* Backend pointers to the moments (num_params floats each). */
float *nl_optim_m(nl_optim *o);
float *nl_optim_v(nl_optim *o);

#endif
