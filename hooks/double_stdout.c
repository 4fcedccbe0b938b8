/*
 * A hook plugin in C: everything the guest writes to its standard output
 * is written twice, whichever road the write takes to the kernel (printf,
 * write(), syscall(SYS_write), an inline `syscall` instruction), which an
 * LD_PRELOAD interposer cannot promise. The same hook as the Rust example
 * emulator/examples/double_stdout.rs, without rebuilding emu:
 *
 *     emu abi hook-header > emu_hook.h
 *     gcc -shared -fPIC -o libdouble_stdout.so double_stdout.c
 *     emu --hook ./libdouble_stdout.so ./guest args...
 */
#include <string.h>
#include "emu_hook.h"

static struct emu_outcome double_stdout(void *state, struct emu_call *call)
{
    (void)state;
    int to_stdout = (strcmp(call->name, "write") == 0 || strcmp(call->name, "writev") == 0) && call->args[0] == 1;
    struct emu_outcome first = emu_forward(call);
    if (to_stdout && first.ending == EMU_VALUE)
        (void)emu_forward(call);
    return first;
}

EMU_HOOK_DEFINE("double-stdout", NULL, double_stdout, NULL);
