// N getppid system calls (argv[1], default 1000000) made directly, for the
// benchmark's per-call cost of a personality: built for Linux and for
// FreeBSD from this one source, both run under emu.
package main

import (
	"os"
	"strconv"
	"syscall"
)

func main() {
	n := 1000000
	if len(os.Args) > 1 {
		n, _ = strconv.Atoi(os.Args[1])
	}
	sum := uintptr(0)
	for i := 0; i < n; i++ {
		r, _, _ := syscall.RawSyscall(syscall.SYS_GETPPID, 0, 0, 0)
		sum += r
	}
	if n > 0 && sum == 0 {
		os.Exit(1)
	}
}
