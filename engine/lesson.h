/* The lessons that ship with the lab: lessons/NAME.yaml, compiled into the binary by the
 * Makefile (build/gen/lessons.c), so no file has to be found at run time. A lesson file is an
 * ordinary preset (model, train, data and a `runs:` race) with a `lesson:` map (nl_lesson in
 * config.h); any preset with that map is a lesson too. */
#ifndef NL_LESSON_H
#define NL_LESSON_H

#include "config.h"
#include "error.h"

typedef struct nl_lesson_file {
    const char *name; /* the file's name without .yaml */
    const char *yaml; /* its text, NUL-terminated */
    unsigned len;     /* bytes of text */
} nl_lesson_file;

/* The embedded lessons, sorted by name (generated). */
extern const nl_lesson_file nl_lesson_files[];
extern const int nl_lesson_files_count;

/* The embedded lesson called name, or NULL. */
const nl_lesson_file *nl_lesson_find(const char *name);

/* Load the embedded lesson `name` into c (defaults, the file, validation, as
 * nl_config_load_string). Errors name "lessons/NAME.yaml (embedded)"; an unknown name gives a
 * message that lists the lessons. Returns 0 or NL_ERR_USAGE. */
int nl_lesson_load(const char *name, nl_config *c, nl_error *err);

#endif
