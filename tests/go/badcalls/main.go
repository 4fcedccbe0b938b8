//go:build freebsd

// FreeBSD calls made wrongly on purpose: bad pointers to calls emu
// translates (each must fail with EFAULT, as FreeBSD's kernel fails them,
// and never crash emu), and calls emu does not carry out (ENOSYS, and one
// report line on stderr).
package main

import (
	"fmt"
	"syscall"
)

// Addresses that no process has mapped.
const (
	low  = 8
	high = 0x7fff_ffff_f000
)

func try(what string, nr uintptr, args ...uintptr) {
	var a [6]uintptr
	copy(a[:], args)
	_, _, errno := syscall.Syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5])
	fmt.Printf("%s: %v\n", what, errno)
}

func main() {
	fd, _ := syscall.Open("/", syscall.O_RDONLY, 0)
	kq, _ := syscall.Kqueue()
	for _, p := range []uintptr{low, high} {
		fmt.Printf("-- pointer %#x\n", p)
		try("fstat", 551, uintptr(fd), p)
		try("fstatat", 552, ^uintptr(99), p, 0, 0)
		try("getdirentries", 554, uintptr(fd), p, 4096, 0)
		try("sigaction", 416, uintptr(syscall.SIGUSR1), p, 0)
		try("sigprocmask", 340, 1, p, 0)
		try("sigaltstack", 53, p, 0)
		try("__sysctl", 202, p, 2, 0, 0, 0, 0)
		try("thr_self", 432, p)
		try("thr_new", 455, p, 104)
		try("clock_gettime", 232, 4, p)
		try("_umtx_op", 454, p, 15, 0, 0, 0)
		try("kevent", 363, uintptr(kq), p, 1, 0, 0, 0)
		try("pipe2", 542, p, 0)
		try("getrlimit", 194, 8, p)
		try("sysarch", 165, 129, p)
		try("open", 5, p, 0, 0)
		try("connect", 98, uintptr(fd), p, 16)
	}
	fmt.Println("-- calls emu does not carry out")
	try("kldload", 304, 0)
	try("kldload again", 304, 0)
	try("jail_attach", 436, 1)
	fmt.Println("done")
}
