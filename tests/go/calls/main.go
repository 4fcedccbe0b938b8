//go:build freebsd

// FreeBSD calls Go's standard library does not make, made directly:
// __realpathat, sigtimedwait, sigwait, sigpending, cpuset_setaffinity,
// minherit, the uid calls, rfork, mmap with MAP_ALIGNED, getlogin and
// setlogin, kqueue's EVFILT_PROC and EVFILT_SIGNAL, sigfastblock, FreeBSD
// 10's pipe. Prints what it saw; tests/freebsd.rs knows what FreeBSD
// answers.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// The release the program is told, and whether __realpathat (FreeBSD 13.0)
// is there: FreeBSD answers a call it does not have with ENOSYS and SIGSYS.
func release() {
	osrelease, _ := syscall.Sysctl("kern.osrelease")
	osreldate, _ := syscall.SysctlUint32("kern.osreldate")
	fmt.Printf("%s %d\n", osrelease, osreldate)
	sigsys := make(chan os.Signal, 1)
	signal.Notify(sigsys, syscall.SIGSYS)
	root := []byte("/\x00")
	var buf [64]byte
	atFdcwd := -100
	_, _, e := syscall.Syscall6(574, uintptr(atFdcwd), uintptr(unsafe.Pointer(&root[0])), // __realpathat
		uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0)
	got := false
	select {
	case <-sigsys:
		got = true
	case <-time.After(200 * time.Millisecond):
	}
	fmt.Printf("__realpathat: errno %d, SIGSYS %v\n", uintptr(e), got)
}

func realpath(dir string) {
	target := filepath.Join(dir, "target")
	os.WriteFile(target, nil, 0o600)
	os.Symlink(target, filepath.Join(dir, "link"))
	buf := make([]byte, 4096)
	path, _ := syscall.BytePtrFromString(filepath.Join(dir, "link"))
	_, _, e := syscall.Syscall6(574, ^uintptr(99), uintptr(unsafe.Pointer(path)), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0)
	n := 0
	for n < len(buf) && buf[n] != 0 {
		n++
	}
	resolved, _ := filepath.EvalSymlinks(filepath.Join(dir, "link"))
	fmt.Printf("__realpathat: %v, resolves the link: %v\n", e, string(buf[:n]) == resolved)
	_, _, e = syscall.Syscall6(574, ^uintptr(99), uintptr(unsafe.Pointer(path)), uintptr(unsafe.Pointer(&buf[0])), 4, 0, 0)
	fmt.Printf("__realpathat into 4 bytes: %v\n", e)
}

type sigset [4]uint32

func (s *sigset) add(sig syscall.Signal) { s[(sig-1)/32] |= 1 << ((sig - 1) % 32) }

func signals() {
	// The mask and the signals are this thread's: stay on it.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var set sigset
	set.add(syscall.SIGUSR2)
	// Blocked (this thread), then sent to this very thread.
	syscall.RawSyscall(340, 1, uintptr(unsafe.Pointer(&set)), 0)
	tid := int64(0)
	syscall.RawSyscall(432, uintptr(unsafe.Pointer(&tid)), 0, 0)
	syscall.RawSyscall(433, uintptr(tid), uintptr(syscall.SIGUSR2), 0)
	var pending sigset
	syscall.RawSyscall(343, uintptr(unsafe.Pointer(&pending)), 0, 0)
	fmt.Printf("sigpending holds SIGUSR2: %v\n", pending[0]&(1<<(syscall.SIGUSR2-1)) != 0)
	var info [80]byte
	timeout := [2]int64{5, 0}
	sig, _, e := syscall.RawSyscall(345, uintptr(unsafe.Pointer(&set)), uintptr(unsafe.Pointer(&info)), uintptr(unsafe.Pointer(&timeout)))
	signo := *(*int32)(unsafe.Pointer(&info[0]))
	code := *(*int32)(unsafe.Pointer(&info[8]))
	fmt.Printf("sigtimedwait: %d %v, si_signo %d, si_code %#x\n", sig, e, signo, code)
	timeout = [2]int64{0, 1000000}
	_, _, e = syscall.RawSyscall(345, uintptr(unsafe.Pointer(&set)), 0, uintptr(unsafe.Pointer(&timeout)))
	fmt.Printf("sigtimedwait with nothing pending: %v\n", e)
	syscall.RawSyscall(433, uintptr(tid), uintptr(syscall.SIGUSR2), 0)
	got := int32(0)
	r, _, _ := syscall.RawSyscall(429, uintptr(unsafe.Pointer(&set)), uintptr(unsafe.Pointer(&got)), 0)
	fmt.Printf("sigwait: returned %d, signal %d\n", r, got)
}

func misc() {
	var mask [128]byte
	_, _, e := syscall.RawSyscall6(487, 3, 2, ^uintptr(0), uintptr(len(mask)), uintptr(unsafe.Pointer(&mask)), 0)
	_, _, e2 := syscall.RawSyscall6(488, 3, 2, ^uintptr(0), uintptr(len(mask)), uintptr(unsafe.Pointer(&mask)), 0)
	fmt.Printf("cpuset_getaffinity then setaffinity with it: %v, %v\n", e, e2)
	mem, _ := syscall.Mmap(-1, 0, 4096, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	_, _, e = syscall.Syscall(250, uintptr(unsafe.Pointer(&mem[0])), 4096, 2)
	_, _, e2 = syscall.Syscall(250, uintptr(unsafe.Pointer(&mem[0])), 4096, 0)
	fmt.Printf("minherit INHERIT_NONE: %v; INHERIT_SHARE: %v\n", e, e2)
	var r, eu, s uint32
	syscall.RawSyscall(360, uintptr(unsafe.Pointer(&r)), uintptr(unsafe.Pointer(&eu)), uintptr(unsafe.Pointer(&s)))
	fmt.Printf("getresuid agrees with getuid/geteuid: %v\n", int(r) == os.Getuid() && int(eu) == os.Geteuid())
	_, _, e = syscall.RawSyscall(183, uintptr(os.Geteuid()), 0, 0)
	fmt.Printf("seteuid to itself: %v\n", e)
}

// kern.ps_strings names the struct ps_strings at the stack's top: the
// arguments the program was started with.
func psStrings() {
	long := func(mib ...int32) (uintptr, error) {
		var v uintptr
		size := unsafe.Sizeof(v)
		_, _, e := syscall.Syscall6(202, uintptr(unsafe.Pointer(&mib[0])), uintptr(len(mib)),
			uintptr(unsafe.Pointer(&v)), uintptr(unsafe.Pointer(&size)), 0, 0)
		if e != 0 {
			return 0, e
		}
		return v, nil
	}
	at, err := long(1, 32)   // kern.ps_strings
	top, err2 := long(1, 33) // kern.usrstack
	if err != nil || err2 != nil {
		fmt.Println("ps_strings:", err, err2)
		return
	}
	ps := (*[4]uintptr)(unsafe.Pointer(uintptr(at)))
	argv := (*[64]*byte)(unsafe.Pointer(ps[0]))
	argc := int(ps[1])
	first := ""
	for p := argv[0]; *p != 0; p = (*byte)(unsafe.Add(unsafe.Pointer(p), 1)) {
		first += string(*p)
	}
	fmt.Printf("ps_strings below usrstack: %v, argc %v, argv[0] %v\n", at < top, argc == len(os.Args), first == os.Args[0])
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "release" {
		release()
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "args" {
		// How it was started: argv[0] and the rest, one per line.
		for _, a := range os.Args {
			fmt.Println(a)
		}
		return
	}
	dir, _ := os.MkdirTemp("", "emu-calls-")
	defer os.RemoveAll(dir)
	realpath(dir)
	signals()
	misc()
	psStrings()
	rfork()
	aligned()
	login()
	procEvents()
	signalEvents()
	fastBlock()
	oldPipe()
	kqueueReplaced()
}

// A kqueue whose number dup2 gives to a pipe is gone: kevent on the
// number is EBADF.
func kqueueReplaced() {
	kq, _ := syscall.Kqueue()
	var p [2]int
	syscall.Pipe(p[:])
	syscall.Dup2(p[0], kq)
	ts := syscall.Timespec{}
	_, err := syscall.Kevent(kq, nil, make([]syscall.Kevent_t, 1), &ts)
	fmt.Printf("kevent on a kqueue's number after dup2: %v\n", err)
	syscall.Close(kq)
	syscall.Close(p[0])
	syscall.Close(p[1])
}

// FreeBSD 10's pipe(), which returns its second descriptor in RDX.
func oldPipe() {
	r, w, e := syscall.RawSyscall(42, 0, 0, 0)
	if e != 0 {
		fmt.Printf("pipe(): %v\n", e)
		return
	}
	syscall.Write(int(w), []byte("through"))
	buf := make([]byte, 16)
	n, _ := syscall.Read(int(r), buf)
	fmt.Printf("pipe(): two descriptors %v, read from the RAX one what went into the RDX one: %q\n", r != w, buf[:n])
	syscall.Close(int(r))
	syscall.Close(int(w))
}

// sigfastblock: while the thread's word counts a block, a signal sent to
// it waits (and the word says so); UNBLOCK lets it through.
func fastBlock() {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	fastblock := func(cmd uintptr, p unsafe.Pointer) syscall.Errno {
		_, _, e := syscall.Syscall(573, cmd, uintptr(p), 0)
		return e
	}
	got := make(chan os.Signal, 1)
	signal.Notify(got, syscall.SIGWINCH)
	defer signal.Stop(got)
	words := make([]uint32, 2)
	word := &words[0]
	fmt.Printf("sigfastblock SETPTR: %v, again: %v, misaligned: %v\n", fastblock(1, unsafe.Pointer(word)),
		fastblock(1, unsafe.Pointer(word)), fastblock(1, unsafe.Add(unsafe.Pointer(word), 2)))
	fmt.Printf("sigfastblock UNBLOCK with nothing pending: %v\n", fastblock(2, nil))
	atomic.StoreUint32(word, 0x10)
	tid := int64(0)
	syscall.RawSyscall(432, uintptr(unsafe.Pointer(&tid)), 0, 0)
	syscall.RawSyscall(433, uintptr(tid), uintptr(syscall.SIGWINCH), 0)
	select {
	case <-got:
		fmt.Println("SIGWINCH while blocked: delivered")
	case <-time.After(100 * time.Millisecond):
		fmt.Printf("SIGWINCH while blocked: waits, word %#x\n", atomic.LoadUint32(word))
	}
	fmt.Printf("sigfastblock UNSETPTR while blocked: %v\n", fastblock(3, nil))
	atomic.StoreUint32(word, 0x1)
	e := fastblock(2, nil)
	select {
	case <-got:
		fmt.Printf("sigfastblock UNBLOCK: %v, SIGWINCH delivered, word %#x\n", e, atomic.LoadUint32(word))
	case <-time.After(5 * time.Second):
		fmt.Printf("sigfastblock UNBLOCK: %v, SIGWINCH still waits\n", e)
	}
	fmt.Printf("sigfastblock UNSETPTR: %v, again: %v; command 9: %v\n", fastblock(3, nil), fastblock(3, nil),
		fastblock(9, nil))
}

// kqueue's EVFILT_SIGNAL counts a signal's arrivals: an ignored one (which
// stays ignored) and a caught one (which the handler gets too).
func signalEvents() {
	kq, err := syscall.Kqueue()
	if err != nil {
		fmt.Printf("kqueue: %v\n", err)
		return
	}
	defer syscall.Close(kq)
	signal.Ignore(syscall.SIGUSR1)
	caught := make(chan os.Signal, 4)
	signal.Notify(caught, syscall.SIGUSR2)
	watch := []syscall.Kevent_t{
		{Ident: uint64(syscall.SIGUSR1), Filter: syscall.EVFILT_SIGNAL, Flags: syscall.EV_ADD},
		{Ident: uint64(syscall.SIGUSR2), Filter: syscall.EVFILT_SIGNAL, Flags: syscall.EV_ADD},
	}
	if _, err := syscall.Kevent(kq, watch, nil, nil); err != nil {
		fmt.Printf("EVFILT_SIGNAL: %v\n", err)
		return
	}
	syscall.Kill(os.Getpid(), syscall.SIGUSR1)
	syscall.Kill(os.Getpid(), syscall.SIGUSR1)
	syscall.Kill(os.Getpid(), syscall.SIGUSR2)
	<-caught
	counts := map[uint64]int64{}
	events := make([]syscall.Kevent_t, 4)
	timeout := syscall.NsecToTimespec(int64(time.Second))
	for len(counts) < 2 || counts[uint64(syscall.SIGUSR1)] < 2 {
		n, err := syscall.Kevent(kq, nil, events, &timeout)
		if err != nil || n == 0 {
			break
		}
		for _, ev := range events[:n] {
			counts[ev.Ident] += ev.Data
		}
	}
	fmt.Printf("EVFILT_SIGNAL: SIGUSR1 ignored, sent twice: %d; SIGUSR2 caught, sent once: %d\n",
		counts[uint64(syscall.SIGUSR1)], counts[uint64(syscall.SIGUSR2)])
	short := syscall.NsecToTimespec(int64(30 * time.Millisecond))
	n, err := syscall.Kevent(kq, nil, events, &short)
	fmt.Printf("EVFILT_SIGNAL with nothing sent since: %d %v\n", n, err)
	bad := []syscall.Kevent_t{{Ident: 200, Filter: syscall.EVFILT_SIGNAL, Flags: syscall.EV_ADD}}
	_, err = syscall.Kevent(kq, bad, nil, nil)
	fmt.Printf("EVFILT_SIGNAL of signal 200: %v\n", err)
}

// kqueue's EVFILT_PROC: a forked child's exit (NOTE_EXIT, its wait status,
// EV_EOF and EV_ONESHOT), and no process. The child, which has no kqueue,
// exits with 5.
func procEvents() {
	kq, err := syscall.Kqueue()
	if err != nil {
		fmt.Printf("kqueue: %v\n", err)
		return
	}
	defer syscall.Close(kq)
	pid, child, e := syscall.RawSyscall(2, 0, 0, 0)
	if e == 0 && child == 1 {
		// A kqueue is not inherited: 5 if its descriptor is gone here.
		code := uintptr(6)
		if _, _, e := syscall.RawSyscall(92, uintptr(kq), 1, 0); e == syscall.EBADF {
			code = 5
		}
		ts := [2]int64{0, 50_000_000}
		syscall.RawSyscall(240, uintptr(unsafe.Pointer(&ts)), 0, 0)
		syscall.RawSyscall(1, code, 0, 0)
	}
	watch := []syscall.Kevent_t{{Ident: uint64(pid), Filter: syscall.EVFILT_PROC, Flags: syscall.EV_ADD,
		Fflags: syscall.NOTE_EXIT}}
	events := make([]syscall.Kevent_t, 1)
	n, err := syscall.Kevent(kq, watch, events, nil)
	ev := events[0]
	fmt.Printf("EVFILT_PROC of a child exiting with 5: %d %v, ident is the child %v, fflags %#x, data %#x, EV_EOF|EV_ONESHOT %v\n",
		n, err, ev.Ident == uint64(pid), ev.Fflags, ev.Data, ev.Flags&(syscall.EV_EOF|syscall.EV_ONESHOT) == syscall.EV_EOF|syscall.EV_ONESHOT)
	var ws syscall.WaitStatus
	_, err = syscall.Wait4(int(pid), &ws, 0, nil)
	fmt.Printf("then wait4: %v, exit status %d\n", err, ws.ExitStatus())
	watch[0].Ident = 0x7ffffff0
	_, err = syscall.Kevent(kq, watch, nil, nil)
	fmt.Printf("EVFILT_PROC of no process: %v\n", err)
}

// getlogin and setlogin: the name (its NUL must fit), a new one (root
// only), and one too long.
func login() {
	get := func() (string, syscall.Errno) {
		buf := make([]byte, 64)
		_, _, e := syscall.Syscall(49, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0)
		n := 0
		for n < len(buf) && buf[n] != 0 {
			n++
		}
		return string(buf[:n]), e
	}
	name, e := get()
	fmt.Printf("getlogin: %v, %q\n", e, name)
	buf := make([]byte, 64)
	_, _, e = syscall.Syscall(49, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(name)), 0)
	fmt.Printf("getlogin without room for the NUL: %v\n", e)
	set := func(name string) syscall.Errno {
		p, _ := syscall.BytePtrFromString(name)
		_, _, e := syscall.Syscall(50, uintptr(unsafe.Pointer(p)), 0, 0)
		return e
	}
	e = set("emu-login")
	name, _ = get()
	fmt.Printf("setlogin emu-login: %v, now %q\n", e, name)
	fmt.Printf("setlogin of 40 bytes: %v\n", set(strings.Repeat("x", 40)))
}

// mmap with MAP_ALIGNED(n) and MAP_ALIGNED_SUPER: placed at a multiple of
// the alignment; an alignment below a page is refused.
func aligned() {
	const anonPrivate = 0x1000 | 0x2
	mmap := func(length uintptr, alignment uintptr) (uintptr, syscall.Errno) {
		addr, _, e := syscall.Syscall6(477, 0, length, 3, anonPrivate|alignment<<24, ^uintptr(0), 0)
		if e == 0 {
			syscall.Syscall(73, addr, length, 0)
		}
		return addr, e
	}
	for _, shift := range []uintptr{21, 30} {
		addr, e := mmap(3*4096, shift)
		fmt.Printf("mmap MAP_ALIGNED(%d): %v, aligned %v\n", shift, e, addr%(1<<shift) == 0)
	}
	addr, e := mmap(4<<20, 1)
	fmt.Printf("mmap MAP_ALIGNED_SUPER of 4 MiB: %v, aligned %v\n", e, addr%(2<<20) == 0)
	_, e = mmap(4096, 5)
	fmt.Printf("mmap MAP_ALIGNED(5): %v\n", e)
}

// rfork(RFPROC|RFFDG): a child (RDX 1 there) that exits at once with 7.
func rfork() {
	pid, child, e := syscall.RawSyscall(251, 0x10|0x4, 0, 0)
	if e == 0 && child == 1 {
		syscall.RawSyscall(1, 7, 0, 0)
	}
	var ws syscall.WaitStatus
	_, err := syscall.Wait4(int(pid), &ws, 0, nil)
	fmt.Printf("rfork(RFPROC|RFFDG): %v, child exited %d (%v)\n", e, ws.ExitStatus(), err)
	_, _, e = syscall.RawSyscall(251, 0x20, 0, 0)
	fmt.Printf("rfork(RFMEM) alone: %v\n", e)
}
