/* Part of libhook_tls_dtor.so, in the default (general-dynamic) model. */
int &calls_here()
{
    static thread_local int calls;
    return calls;
}
