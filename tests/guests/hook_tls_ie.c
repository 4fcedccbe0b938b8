/* Part of libhook_tls.so: the address of `both` through the initial-exec
 * model, which puts the whole module in static TLS. hook_tls.c finds its
 * other thread-locals through __tls_get_addr: they must be in the same
 * block, on every thread. */
extern __thread int both __attribute__((tls_model("initial-exec"), visibility("hidden")));

int *both_by_initial_exec(void)
{
    return &both;
}
