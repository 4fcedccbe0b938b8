/* vfork, and a child that ends without exec'ing (as posix_spawn's does when
 * the exec fails): the parent goes on with the memory they shared. */
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
    pid_t pid = vfork();
    if (pid == 0)
        _exit(3);
    int status = 0;
    waitpid(pid, &status, 0);
    printf("vfork child exited %d\n", WEXITSTATUS(status));
    return 0;
}
