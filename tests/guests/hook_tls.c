/* A hook plugin that keeps per-thread state in `__thread` variables (which
 * emu serves itself, see emulator/src/hooks/plugin_tls.rs), one of them
 * initialized: it counts the guest threads that made calls and checks that
 * each found its initial value, that a variable its constructor set is
 * there, and that the variables it reaches through __tls_get_addr are in
 * the same block as `both`, whose address hook_tls_ie.c takes through the
 * initial-exec model (so the module is in static TLS); and that emu's own
 * memory and an unmapped page are EFAULT to it. It says so at exit. Its
 * argument is refused when it is "refuse" (init's errno reaches the user)
 * or "minus-one" (not an errno). */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include "emu_hook.h"

static __thread int seen;
static __thread char tag[16] = "emu-tls";
static __thread int set_by_constructor;
__attribute__((visibility("hidden"))) __thread int both;
int *both_by_initial_exec(void);
static atomic_int threads, bad, calls;

__attribute__((constructor)) static void constructor(void)
{
    set_by_constructor = 7;
}
static const struct emu_host *emu;

static int32_t init(const struct emu_host *host, const char *argument, void **state)
{
    (void)state;
    emu = host;
    if (strcmp(argument, "minus-one") == 0)
        return -1;
    return strcmp(argument, "refuse") == 0 ? EINVAL : 0;
}

static struct emu_outcome count(void *state, struct emu_call *call)
{
    (void)state;
    if (!seen) {
        /* emu's memory, and an unmapped page, are not the guest's to read. */
        char bytes[16];
        if (emu->read_memory(1, bytes, 1) != EFAULT || emu->read_string((uintptr_t)emu, bytes, sizeof bytes) != -EFAULT ||
            emu->read_string(1, bytes, 1) != -EFAULT)
            atomic_fetch_add(&bad, 1);
        seen = 1;
        atomic_fetch_add(&threads, 1);
        if (strcmp(tag, "emu-tls") != 0)
            atomic_fetch_add(&bad, 1);
        snprintf(tag, sizeof tag, "thread");
    }
    long apart = (char *)&seen - (char *)both_by_initial_exec();
    if (apart < -4096 || apart > 4096)
        atomic_fetch_add(&bad, 1);
    atomic_fetch_add(&calls, 1);
    return emu_forward(call);
}

static void report(void *state, int32_t status, int32_t signal)
{
    (void)state;
    char line[160];
    int n = snprintf(line, sizeof line,
                     "hook-tls: %s, %d threads made calls, %d found a thread-local wrong, constructor's %d, exit %d signal %d\n",
                     emu->personality, threads, bad, set_by_constructor, status, signal);
    emu->diagnostic(line, n);
}

EMU_HOOK_DEFINE("tls", init, count, report);
