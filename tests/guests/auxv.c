/* The initial stack and auxiliary vector as the program finds them. Prints
 * only what is the same between two runs of one binary (relations rather
 * than addresses), so the native run is the reference. */
#include <elf.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

extern char **environ;
extern const Elf64_Ehdr __ehdr_start;
extern void _start(void);

int main(int argc, char **argv) {
    printf("environ follows argv: %d\n", environ == argv + argc + 1);
    char **p = environ;
    while (*p)
        p++;
    Elf64_auxv_t *aux = (Elf64_auxv_t *)(p + 1);
    printf("auxv follows envp: %d (first entry is type %s)\n", aux->a_type != AT_NULL,
           getauxval(aux->a_type) == aux->a_un.a_val ? "known to getauxval" : "unknown");

    printf("AT_PAGESZ=%lu AT_CLKTCK=%lu\n", getauxval(AT_PAGESZ), getauxval(AT_CLKTCK));
    printf("AT_UID=%lu AT_EUID=%lu AT_GID=%lu AT_EGID=%lu AT_SECURE=%lu\n", getauxval(AT_UID), getauxval(AT_EUID),
           getauxval(AT_GID), getauxval(AT_EGID), getauxval(AT_SECURE));
    printf("AT_HWCAP=%#lx AT_HWCAP2=%#lx AT_MINSIGSTKSZ=%lu\n", getauxval(AT_HWCAP), getauxval(AT_HWCAP2), getauxval(51));
    printf("AT_PHENT=%lu AT_PHNUM=%lu (headers say %u)\n", getauxval(AT_PHENT), getauxval(AT_PHNUM), __ehdr_start.e_phnum);
    printf("AT_PHDR points at the program headers: %d\n",
           getauxval(AT_PHDR) == (uintptr_t)&__ehdr_start + __ehdr_start.e_phoff);
    printf("AT_ENTRY is _start: %d\n", getauxval(AT_ENTRY) == (uintptr_t)_start);
    printf("AT_BASE=%lu AT_FLAGS=%lu\n", getauxval(AT_BASE), getauxval(AT_FLAGS));
    const char *execfn = (const char *)getauxval(AT_EXECFN);
    printf("AT_EXECFN is argv[0]: %d\n", execfn && strcmp(execfn, argv[0]) == 0);
    printf("AT_PLATFORM=%s\n", (const char *)getauxval(AT_PLATFORM));
    const unsigned char *random = (const unsigned char *)getauxval(AT_RANDOM);
    printf("AT_RANDOM: %d\n", random != NULL);
    const unsigned char *vdso = (const unsigned char *)getauxval(AT_SYSINFO_EHDR);
    printf("AT_SYSINFO_EHDR is an ELF image: %d\n", vdso && memcmp(vdso, ELFMAG, SELFMAG) == 0);
    char here;
    printf("stack below the strings: %d\n", (uintptr_t)&here < (uintptr_t)argv[0]);
    return 0;
}
