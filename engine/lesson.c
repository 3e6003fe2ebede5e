/* The embedded lessons by name (the table itself is generated from lessons/NAME.yaml). */
#include "lesson.h"

#include <stdio.h>
#include <string.h>

const nl_lesson_file *nl_lesson_find(const char *name)
{
    for (int i = 0; name && i < nl_lesson_files_count; i++)
        if (!strcmp(nl_lesson_files[i].name, name))
            return &nl_lesson_files[i];
    return NULL;
}

int nl_lesson_load(const char *name, nl_config *c, nl_error *err)
{
    const nl_lesson_file *f = nl_lesson_find(name);
    if (!f) {
        char list[512] = "";
        for (int i = 0; i < nl_lesson_files_count; i++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                     nl_lesson_files[i].name);
        return nl_fail(err, NL_ERR_USAGE, "no lesson called '%s' (the lessons: %s)", name, list);
    }
    char label[128];
    snprintf(label, sizeof label, "lessons/%s.yaml (embedded)", f->name);
    nl_config_defaults(c);
    return nl_config_load_string(c, f->yaml, f->len, label, err);
}
