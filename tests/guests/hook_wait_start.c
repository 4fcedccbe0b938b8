/* A hook plugin whose init waits for a signal (at most 5 s): emu has installed its
 * handlers by then and not yet run the guest's first instruction, so a
 * signal sent meanwhile must reach the guest as that instruction runs
 * (tests/hook_plugins.rs). */
#include <unistd.h>
#include "emu_hook.h"

static int32_t init(const struct emu_host *host, const char *argument, void **state)
{
    (void)host;
    (void)argument;
    (void)state;
    /* Ended early by the signal; should emu hold it instead, the guest
     * still gets it at its first instruction, five seconds later. */
    sleep(5);
    return 0;
}

static struct emu_outcome forward(void *state, struct emu_call *call)
{
    (void)state;
    return emu_forward(call);
}

EMU_HOOK_DEFINE("wait_start", init, forward, 0);
