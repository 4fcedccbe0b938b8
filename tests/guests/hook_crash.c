/* A hook plugin that misbehaves on the guest's first write: it stores
 * through a null pointer, or (with the argument "ending") returns an
 * outcome with an ending the ABI does not have; with "init" or "exit", it
 * faults in its init or its exit; with HOOK_CRASH_IN_CONSTRUCTOR in the environment, in its
 * constructor, while emu loads it. emu must stop the guest
 * and name the hook, not die silently, blame itself or run on. */
#include <stdlib.h>
#include <string.h>
#include "emu_hook.h"

static int bad_ending, fault_at_exit;

/* Null, as the compiler cannot know: a store through it faults. */
int *volatile nowhere;

/* Faults while emu loads it, when the environment asks for it. */
__attribute__((constructor)) static void constructor(void)
{
    if (getenv("HOOK_CRASH_IN_CONSTRUCTOR"))
        *nowhere = 1;
}

static int32_t init(const struct emu_host *host, const char *argument, void **state)
{
    (void)host;
    (void)state;
    bad_ending = strcmp(argument, "ending") == 0;
    if (strcmp(argument, "init") == 0)
        *nowhere = 1;
    fault_at_exit = strcmp(argument, "exit") == 0;
    return 0;
}

static struct emu_outcome crash(void *state, struct emu_call *call)
{
    (void)state;
    if (strcmp(call->name, "write") == 0) {
        if (bad_ending) {
            struct emu_outcome nonsense = { 9, 0, 0, 0, 0, 0 };
            return nonsense;
        }
        if (!fault_at_exit)
            *nowhere = 1;
    }
    return emu_forward(call);
}

static void at_exit(void *state, int32_t status, int32_t signal)
{
    (void)state;
    (void)status;
    (void)signal;
    if (fault_at_exit)
        *nowhere = 1;
}

EMU_HOOK_DEFINE("crash", init, crash, at_exit);
