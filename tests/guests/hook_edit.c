/* A hook plugin that changes and answers calls, as the ABI promises a hook
 * may: every write to fd 1 is forwarded as a write to fd 2 (the argument
 * changed), and an open of a path ending in ".c" is answered ENOENT without
 * reaching the table (the path read from guest memory). */
#include <errno.h>
#include <string.h>
#include "emu_hook.h"

static int opens_a_c_file(struct emu_call *call)
{
    for (uint32_t i = 0; i < call->nargs; i++) {
        if (call->arg_class[i] != EMU_ARG_PATH)
            continue;
        char path[4096];
        int64_t n = call->host->read_string(call->args[i], path, sizeof path);
        if (n >= 2 && strcmp(path + n - 2, ".c") == 0)
            return 1;
    }
    return 0;
}

static struct emu_outcome edit(void *state, struct emu_call *call)
{
    (void)state;
    if ((strcmp(call->name, "write") == 0 || strcmp(call->name, "writev") == 0) && call->args[0] == 1) {
        call->args[0] = 2;
        struct emu_outcome o = emu_forward(call);
        call->args[0] = 1;
        return o;
    }
    if ((strcmp(call->name, "open") == 0 || strcmp(call->name, "openat") == 0) && opens_a_c_file(call))
        return emu_error(ENOENT);
    return emu_forward(call);
}

EMU_HOOK_DEFINE("edit", NULL, edit, NULL);
