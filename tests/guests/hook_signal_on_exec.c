/* A hook plugin that sends its process SIGTERM as the guest calls execve,
 * while emu carries the call out: the signal must reach the new image
 * (tests/hook_plugins.rs). */
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include "emu_hook.h"

static struct emu_outcome terminate_on_exec(void *state, struct emu_call *call)
{
    (void)state;
    if (strcmp(call->name, "execve") == 0)
        kill(getpid(), SIGTERM);
    return emu_forward(call);
}

EMU_HOOK_DEFINE("signal_on_exec", 0, terminate_on_exec, 0);
