/* The setup screen: a form over every config key (nl_config_keys), edited through
 * nl_config_set so a bad value gets the engine's own message while it is typed; preset
 * load and save; and the race list (up to NL_MAX_RACE runs). It draws into a grid and
 * handles keys; starting runs is the caller's business (setup_key returns SETUP_START). */
#ifndef UI_SETUP_H
#define UI_SETUP_H

#include "engine/config.h"
#include "grid.h"

typedef struct setup_row {
    int key;        /* index into the key table, -1 for a section header */
    char label[48]; /* the key's last part, or the section's name */
} setup_row;

typedef enum { PROMPT_NONE = 0, PROMPT_LOAD, PROMPT_SAVE, PROMPT_FIND } setup_prompt;

typedef struct setup_state {
    nl_config cfg;
    char preset[512];      /* where cfg came from ("" = the embedded default) */
    char presets_dir[512]; /* where shipped presets live, for names without a path */
    const nl_config_key_info *keys;
    int nkeys;
    setup_row *rows;
    int nrows;
    int cur;  /* row of the selected field */
    int top;  /* first row shown */
    int page; /* rows shown last time (for PgUp/PgDn) */
    /* editing a field */
    int editing;
    char edit[512];
    int edit_bad;
    /* the race */
    int race_focus;
    int race_sel;
    int nrace;
    nl_config *race; /* (NL_MAX_RACE) */
    /* a one-line prompt (load, save, find) */
    setup_prompt prompt;
    char prompt_buf[512];
    /* messages */
    char msg[1024];
    int msg_role;
    char invalid[1024]; /* nl_config_validate's message for cfg, "" when valid */
    int name_edited;    /* the name field was typed in: runs take that name */
    int entry;          /* the race entry loaded into the form (Enter in the race list): `a`
                           saves the form back into it; -1 = none */
    int confirm_save;   /* the save path exists: the next key y replaces it */
} setup_state;

typedef enum { SETUP_NONE = 0, SETUP_START, SETUP_QUIT, SETUP_HELP } setup_result;

/* " · 1.2M params · ~45 MB " for the top bar: the config's parameters and the memory it needs
 * (engine/memest.h), as it is edited; returns the colour role (ROLE_ERROR when it exceeds the
 * free memory). buf is "" while the config is invalid or its vocabulary unknown. */
int setup_size_text(const setup_state *s, char *buf, int len);

/* Takes a copy of cfg. Returns 0, or -1 when out of memory. */
int setup_init(setup_state *s, const nl_config *cfg, const char *preset, const char *presets_dir);
void setup_free(setup_state *s);
/* Load a preset file into the form (and its race list, when it has one). */
int setup_load(setup_state *s, const char *path);

setup_result setup_key(setup_state *s, int key);
void setup_draw(ui_grid *g, setup_state *s, ui_glyphs glyphs);

/* The runs a start would launch: the race when it has runs, else the form alone. out
 * (NL_MAX_RACE) receives validated configs with their run names; returns the count, or
 * -1 with s->msg set. */
int setup_runs(setup_state *s, nl_config *out);

/* The setup and its race as one preset's YAML (the form as the base, each run as a `runs:`
 * entry setting the keys where it differs); malloc'ed, the caller frees. NULL when out of
 * memory. */
char *setup_race_yaml(const setup_state *s);

/* A run name for c not yet used in taken[0..n): c's own name when own_name (the user typed
 * it), else placement and depth ("pre-L4"), with "-2", "-3", ... when taken. */
void setup_run_name(const nl_config *c, int own_name, char taken[][64], int n, char *out, int len);

#endif
