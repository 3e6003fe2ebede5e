/* The preset loader: any bytes either load or fail with a message naming the input; a
 * loaded config saves to YAML that loads again to the same config (the round trip that a
 * run's config.yaml relies on). */
#include <stdint.h>
#include <string.h>

#include "engine/config.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static nl_config c, c2;
    nl_error err = {0};
    nl_config_defaults(&c);
    if (nl_config_load_string(&c, (const char *)data, size, "fuzz.yaml", &err)) {
        FZ_ASSERT(err.msg[0] && strstr(err.msg, "fuzz.yaml"), "message '%s'", err.msg);
        return 0;
    }
    char *y = nl_config_to_yaml(&c);
    FZ_ASSERT(y, "nl_config_to_yaml returned NULL");
    nl_config_defaults(&c2);
    nl_error err2 = {0};
    int rc = nl_config_load_string(&c2, y, strlen(y), "saved.yaml", &err2);
    FZ_ASSERT(rc == 0, "saved config does not reload: %s\n--- saved:\n%s", err2.msg, y);
    char *y2 = nl_config_to_yaml(&c2);
    FZ_ASSERT(y2 && strcmp(y, y2) == 0, "round trip changed the config:\n%s\n--- became:\n%s", y,
              y2 ? y2 : "(null)");
    /* and through a file, as a run directory holds it */
    const char *path = fz_write("config.yaml", NULL, 0, "wb");
    nl_error err3 = {0};
    FZ_ASSERT(nl_config_save_file(&c, path, &err3) == 0, "save: %s", err3.msg);
    nl_config_defaults(&c2);
    FZ_ASSERT(nl_config_load_file(&c2, path, &err3) == 0, "reload from file: %s", err3.msg);
    char *y3 = nl_config_to_yaml(&c2);
    FZ_ASSERT(y3 && strcmp(y, y3) == 0, "file round trip changed the config");
    free(y);
    free(y2);
    free(y3);
    return 0;
}
