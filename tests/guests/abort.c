/* Dies of SIGTERM (with an argument) or of abort(). */
#include <signal.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    (void)argv;
    if (argc > 1)
        raise(SIGTERM);
    abort();
}
