/* A hook plugin that keeps per-thread state in `__thread` variables (the
 * dynamic TLS of a shared object, which emu serves itself, see
 * emulator/src/hooks/plugin_tls.rs), one of them initialized: it counts
 * the guest threads that made calls and checks that each found its
 * initial value, and says so at exit. Its argument is refused when it is
 * "refuse" (init's errno reaches the user). */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include "emu_hook.h"

static __thread int seen;
static __thread char tag[16] = "emu-tls";
static atomic_int threads, bad, calls;
static const struct emu_host *emu;

static int32_t init(const struct emu_host *host, const char *argument, void **state)
{
    (void)state;
    emu = host;
    return strcmp(argument, "refuse") == 0 ? EINVAL : 0;
}

static struct emu_outcome count(void *state, struct emu_call *call)
{
    (void)state;
    if (!seen) {
        seen = 1;
        atomic_fetch_add(&threads, 1);
        if (strcmp(tag, "emu-tls") != 0)
            atomic_fetch_add(&bad, 1);
        snprintf(tag, sizeof tag, "thread");
    }
    atomic_fetch_add(&calls, 1);
    return emu_forward(call);
}

static void report(void *state, int32_t status, int32_t signal)
{
    (void)state;
    char line[128];
    int n = snprintf(line, sizeof line, "hook-tls: %s, %d threads made calls, %d without their initial value, exit %d signal %d\n",
                     emu->personality, threads, bad, status, signal);
    emu->diagnostic(line, n);
}

EMU_HOOK_DEFINE("tls", init, count, report);
