/* A C++ hook plugin whose thread_local object has a destructor, in the
 * initial-exec model (hook_tls_dtor_count.cc, built with the default model,
 * holds the counter the destructor touches): when a guest thread exits, the
 * destructor runs and reaches the other variable through __tls_get_addr,
 * which must still work then. At exit it says how many ran.
 *
 * With the argument "slow" each destructor first sleeps 2 ms: a guest's
 * pthread_join must still return only after it, as natively (emu once ran
 * them after releasing the thread's clear_child_tid, and the last thread's
 * could be cut short by the exit that followed the join). */
#include <atomic>
#include <cstdio>
#include <cstring>
#include <ctime>
#include "emu_hook.h"

int &calls_here();  // hook_tls_dtor_count.cc: a thread-local, general-dynamic

static std::atomic<int> destroyed;
static const emu_host *emu;
static bool slow;

struct Seen {
    int calls = 0;
    ~Seen()
    {
        if (slow) {
            struct timespec pause = {0, 2000000};
            nanosleep(&pause, nullptr);
        }
        if (calls != calls_here())
            return;  // counted as not destroyed
        destroyed++;
    }
};

thread_local Seen seen;

static int32_t init(const emu_host *host, const char *argument, void **)
{
    emu = host;
    slow = argument && !std::strcmp(argument, "slow");
    return 0;
}

static emu_outcome count(void *, emu_call *call)
{
    seen.calls++;
    calls_here()++;
    return emu_forward(call);
}

static void report(void *, int32_t, int32_t)
{
    char line[80];
    int n = std::snprintf(line, sizeof line, "hook-tls-dtor: %d destroyed\n", destroyed.load());
    emu->diagnostic(line, n);
}

EMU_HOOK_DEFINE("tls-dtor", init, count, report);
