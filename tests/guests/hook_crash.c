/* A hook plugin that faults: on the guest's first write it stores through
 * a null pointer. emu must stop the guest and name the hook, not die
 * silently or blame itself. */
#include <string.h>
#include "emu_hook.h"

/* Null, as the compiler cannot know: a store through it faults. */
int *volatile nowhere;

static struct emu_outcome crash(void *state, struct emu_call *call)
{
    (void)state;
    if (strcmp(call->name, "write") == 0)
        *nowhere = 1;
    return emu_forward(call);
}

EMU_HOOK_DEFINE("crash", NULL, crash, NULL);
