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
 * receives the global norm before clipping (may be NULL). */
int nl_optim_step(nl_optim *o, float lr, float *grad_norm, nl_error *err);

int64_t nl_optim_t(const nl_optim *o); /* updates taken */
void nl_optim_set_t(nl_optim *o, int64_t t);
/* Backend pointers to the moments (num_params floats each). */
float *nl_optim_m(nl_optim *o);
float *nl_optim_v(nl_optim *o);

#endif
