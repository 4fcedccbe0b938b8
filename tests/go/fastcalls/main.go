// Calls that a rewritten site's entry makes itself (emu's pass-through),
// made often enough that their sites are rewritten: results and errors
// (a FreeBSD errno differs from Linux's: EAGAIN is 35 there), clock reads
// (FreeBSD's clock ids are translated in the entry), and blocking reads
// that signals interrupt and SA_RESTART restarts. The Linux build prints the
// same natively (tests/freebsd.rs).
package main

import (
	"bytes"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

const repeats = 200

func errText(e syscall.Errno) string {
	if e == 0 {
		return "ok"
	}
	return e.Error()
}

// Counts how many of `repeats` runs of f give each answer.
func tally(name string, f func() string) {
	counts := map[string]int{}
	var order []string
	for i := 0; i < repeats; i++ {
		s := f()
		if counts[s] == 0 {
			order = append(order, s)
		}
		counts[s]++
	}
	for _, s := range order {
		fmt.Printf("%s: %s (%d of %d)\n", name, s, counts[s], repeats)
	}
}

func clockGettime(id uintptr, ts unsafe.Pointer) syscall.Errno {
	_, _, e := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, id, uintptr(ts), 0)
	return e
}

func results() {
	var p [2]int
	if err := syscall.Pipe(p[:]); err != nil {
		panic(err)
	}
	if err := syscall.SetNonblock(p[0], true); err != nil {
		panic(err)
	}
	buf := make([]byte, 64)
	tally("read of an empty non-blocking pipe", func() string {
		_, err := syscall.Read(p[0], buf)
		return fmt.Sprint(err)
	})
	tally("read of descriptor -1", func() string {
		_, err := syscall.Read(-1, buf)
		return fmt.Sprint(err)
	})
	tally("write then read", func() string {
		w, err := syscall.Write(p[1], []byte("through the pipe"))
		if err != nil {
			return err.Error()
		}
		r, err := syscall.Read(p[0], buf)
		return fmt.Sprintf("%d written, %d read %q, %v", w, r, buf[:r], err)
	})
	var last syscall.Timespec
	tally("clock_gettime(CLOCK_MONOTONIC)", func() string {
		var ts syscall.Timespec
		e := clockGettime(clockMonotonic, unsafe.Pointer(&ts))
		backwards := ts.Nano() < last.Nano()
		last = ts
		return fmt.Sprintf("%s, backwards %v", errText(e), backwards)
	})
	tally("clock_gettime(CLOCK_REALTIME)", func() string {
		var ts syscall.Timespec
		e := clockGettime(clockRealtime, unsafe.Pointer(&ts))
		off := time.Since(time.Unix(ts.Unix())).Abs()
		return fmt.Sprintf("%s, within a second of time.Now %v", errText(e), off < time.Second)
	})
	tally("clock_gettime(CLOCK_MONOTONIC with bits above 32)", func() string {
		var ts syscall.Timespec
		e := clockGettime(1<<32|clockMonotonic, unsafe.Pointer(&ts))
		return fmt.Sprintf("%s, set %v", errText(e), ts.Sec != 0 || ts.Nsec != 0)
	})
	tally("clock_gettime(clock 1000)", func() string {
		var ts syscall.Timespec
		return errText(clockGettime(1000, unsafe.Pointer(&ts)))
	})
	tally("clock_gettime into address 16", func() string {
		_, _, e := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockMonotonic, 16, 0)
		return errText(e)
	})
	// In the arena but read-only: the entry's copy faults (FreeBSD's
	// entry reads the clock through the host's vDSO, then copies).
	page, err := syscall.Mmap(-1, 0, 4096, syscall.PROT_READ, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		panic(err)
	}
	tally("clock_gettime into a read-only page", func() string {
		return errText(clockGettime(clockMonotonic, unsafe.Pointer(&page[8])))
	})
	syscall.Munmap(page)
	syscall.Close(p[0])
	syscall.Close(p[1])
}

// A thread blocked in read while signals with an SA_RESTART handler (Go's)
// are sent to it: each read returns what was written, never EINTR.
func restarts() {
	const rounds, perRound = 20, 40
	var p [2]int
	if err := syscall.Pipe(p[:]); err != nil {
		panic(err)
	}
	sigs := make(chan os.Signal, 64)
	signal.Notify(sigs, syscall.SIGUSR1)
	go func() {
		for range sigs {
		}
	}()
	tids := make(chan int)
	got := make(chan string)
	go func() {
		runtime.LockOSThread()
		tids <- threadID()
		buf := make([]byte, 16)
		for i := 0; i < rounds; i++ {
			n, err := syscall.Read(p[0], buf)
			if err != nil {
				got <- err.Error()
			} else {
				got <- string(buf[:n])
			}
		}
	}()
	tid := <-tids
	good := 0
	var bad []string
	for i := 0; i < rounds; i++ {
		for j := 0; j < perRound; j++ {
			signalThread(tid, syscall.SIGUSR1)
			time.Sleep(50 * time.Microsecond)
		}
		msg := fmt.Sprintf("round %d", i)
		syscall.Write(p[1], []byte(msg))
		if r := <-got; r == msg {
			good++
		} else {
			bad = append(bad, r)
		}
	}
	fmt.Printf("blocking reads under %d signals: %d of %d rounds read what was written %q\n",
		rounds*perRound, good, rounds, bad)
}

// Clock reads on a thread that signals keep interrupting (in the entry,
// in the vDSO it calls, on the way back), for as long as a fixed number of
// signals takes to send: each read succeeds, and the clock never goes
// backwards.
func clockStorm() {
	const signals = 500
	sigs := make(chan os.Signal, 64)
	signal.Notify(sigs, syscall.SIGUSR2)
	go func() {
		for range sigs {
		}
	}()
	var stop atomic.Bool
	tids := make(chan int)
	done := make(chan string)
	go func() {
		runtime.LockOSThread()
		tids <- threadID()
		failed, backwards := 0, 0
		var last syscall.Timespec
		for !stop.Load() {
			var ts syscall.Timespec
			if clockGettime(clockMonotonic, unsafe.Pointer(&ts)) != 0 {
				failed++
			}
			if ts.Nano() < last.Nano() {
				backwards++
			}
			last = ts
		}
		done <- fmt.Sprintf("%d failed, %d backwards", failed, backwards)
	}()
	tid := <-tids
	for i := 0; i < signals; i++ {
		signalThread(tid, syscall.SIGUSR2)
		time.Sleep(20 * time.Microsecond)
	}
	stop.Store(true)
	fmt.Printf("clock reads under %d signals: %s\n", signals, <-done)
}

func main() {
	results()
	restarts()
	clockStorm()
	// The same through os.File, whose reads Go retries itself.
	r, w, _ := os.Pipe()
	w.Write([]byte("done"))
	b := make([]byte, 4)
	r.Read(b)
	fmt.Println(string(bytes.ToUpper(b)))
}
