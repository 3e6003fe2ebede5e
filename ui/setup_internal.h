/* What the setup screen's files share among themselves: setup.c (the form's state, the race,
 * presets), setup_keys.c (editing, prompts, setup_key) and setup_draw.c (setup_draw). */
#ifndef UI_SETUP_INTERNAL_H
#define UI_SETUP_INTERNAL_H

#include "setup.h"

/* A key of the MoE or custom-placement groups. */
int setup_key_is_moe(const char *key);
int setup_key_is_custom(const char *key);
/* A key that does nothing with the current setup: shown dimmed, still editable. */
int setup_key_unused(const setup_state *s, const char *key);
/* nl_config_validate's verdict on the form into s->invalid. */
void setup_revalidate(setup_state *s);
/* The message line. */
void setup_set_msg(setup_state *s, int role, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The key of the selected row, NULL on a section header. */
const nl_config_key_info *setup_cur_key(const setup_state *s);
/* The selection delta fields down (up when negative), skipping section headers. */
void setup_move_cur(setup_state *s, int delta);

/* The race: the form added (or put back into the entry it was loaded from), field k's value
 * into every run, the selected run removed; the form and race saved as one preset. */
void setup_race_add(setup_state *s);
void setup_race_apply(setup_state *s, const nl_config_key_info *k);
void setup_race_del(setup_state *s);
void setup_save_race(setup_state *s, const char *path);

#endif
