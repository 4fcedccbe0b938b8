//go:build freebsd

// FreeBSD's thread synchronisation calls, made directly: thr_suspend and
// thr_wake, and _umtx_op as libthr uses it: mutexes (normal,
// priority-inheriting, priority-protected, robust) with libthr's user-space
// fast paths and without them, condition variables, rwlocks, semaphores
// (both kinds), and the errors. Each check prints one line; tests/freebsd.rs
// holds what FreeBSD prints.
package main

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

const (
	sysUmtxOp     = 454
	sysThrSelf    = 432
	sysThrExit    = 431
	sysThrSuspend = 442
	sysThrWake    = 443
	sysThrSetName = 464

	opMutexTrylock = 4
	opMutexLock    = 5
	opMutexUnlock  = 6
	opSetCeiling   = 7
	opCvWait       = 8
	opCvSignal     = 9
	opCvBroadcast  = 10
	opRwRdlock     = 12
	opRwWrlock     = 13
	opRwUnlock     = 14
	opMutexWait    = 17
	opSemWait      = 19
	opSemWake      = 20
	opMutexWake2   = 22
	opSem2Wait     = 23
	opSem2Wake     = 24
	opRobustLists  = 26

	contested     = 0x80000000
	ownerDead     = contested | 0x10
	prioInherit   = 0x4
	prioProtect   = 0x8
	robust        = 0x10
	nonconsistent = 0x20

	semHasWaiters = 0x80000000
)

type umutex struct {
	owner    uint32
	flags    uint32
	ceilings [2]uint32
	rbLink   uintptr
	spare    [2]uint32
}

type ucond struct {
	hasWaiters uint32
	flags      uint32
	clockid    uint32
	spare      uint32
}

type urwlock struct {
	state          uint32
	flags          uint32
	blockedReaders uint32
	blockedWriters uint32
	spare          [4]uint32
}

type usem2 struct {
	count uint32
	flags uint32
}

type usem struct {
	hasWaiters uint32
	count      uint32
	flags      uint32
}

// struct _umtx_time: a timeout, its flags and its clock.
type umtxTime struct {
	sec, nsec int64
	flags     uint32
	clock     uint32
}

const clockMonotonic = 4

func umtx(obj unsafe.Pointer, op int, val uintptr, uaddr1, uaddr2 uintptr) syscall.Errno {
	_, _, e := syscall.Syscall6(sysUmtxOp, uintptr(obj), uintptr(op), val, uaddr1, uaddr2, 0)
	return e
}

// A relative timeout on CLOCK_MONOTONIC, as (size, pointer).
func after(d time.Duration) (uintptr, uintptr) {
	t := &umtxTime{sec: int64(d / time.Second), nsec: int64(d % time.Second), clock: clockMonotonic}
	return unsafe.Sizeof(*t), uintptr(unsafe.Pointer(t))
}

func tid() uint32 {
	var id int64
	syscall.Syscall(sysThrSelf, uintptr(unsafe.Pointer(&id)), 0, 0)
	return uint32(id)
}

// On a thread of its own, as a libthr thread is.
func onThread(wg *sync.WaitGroup, f func()) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		f()
	}()
}

// libthr's _thr_umutex_lock and _thr_umutex_unlock2 for a normal mutex:
// the kernel only to wait and to wake.
func fastLock(m *umutex, id uint32) {
	if atomic.CompareAndSwapUint32(&m.owner, 0, id) {
		return
	}
	for {
		owner := atomic.LoadUint32(&m.owner)
		if owner&^contested == 0 && atomic.CompareAndSwapUint32(&m.owner, owner, id|owner) {
			return
		}
		if e := umtx(unsafe.Pointer(m), opMutexWait, 0, 0, 0); e != 0 && e != syscall.EINTR {
			panic(e)
		}
	}
}

func fastUnlock(m *umutex, id uint32) {
	for {
		owner := atomic.LoadUint32(&m.owner)
		if owner&^contested != id {
			panic("not the owner")
		}
		if atomic.CompareAndSwapUint32(&m.owner, owner, 0) {
			if owner&contested != 0 {
				umtx(unsafe.Pointer(m), opMutexWake2, uintptr(m.flags), 0, 0)
			}
			return
		}
	}
}

func kernelLock(m *umutex) {
	if e := umtx(unsafe.Pointer(m), opMutexLock, 0, 0, 0); e != 0 {
		panic(e)
	}
}

func kernelUnlock(m *umutex) {
	if e := umtx(unsafe.Pointer(m), opMutexUnlock, 0, 0, 0); e != 0 {
		panic(e)
	}
}

// Four threads add to a counter under the mutex; nothing is lost.
func counter(name string, m *umutex, lock func(*umutex, uint32), unlock func(*umutex, uint32)) {
	var wg sync.WaitGroup
	total := 0
	for i := 0; i < 4; i++ {
		onThread(&wg, func() {
			id := tid()
			for j := 0; j < 3000; j++ {
				lock(m, id)
				v := total
				runtime.Gosched()
				total = v + 1
				unlock(m, id)
			}
		})
	}
	wg.Wait()
	fmt.Printf("%s: total %d, free afterwards %v\n", name, total, m.owner&^contested == 0)
}

func mutexes() {
	counter("normal mutex, libthr's fast paths", &umutex{}, fastLock, fastUnlock)
	kl := func(m *umutex, _ uint32) { kernelLock(m) }
	ku := func(m *umutex, _ uint32) { kernelUnlock(m) }
	counter("normal mutex, kernel only", &umutex{}, kl, ku)
	counter("priority-inheriting mutex", &umutex{flags: prioInherit}, kl, ku)
	pp := &umutex{flags: prioProtect, owner: contested, ceilings: [2]uint32{10, ^uint32(0)}}
	counter("priority-protected mutex", pp, kl, ku)
	fmt.Printf("priority-protected mutex free is contested: %v\n", pp.owner == contested)

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	me := tid()
	m := &umutex{}
	kernelLock(m)
	fmt.Printf("kernel lock of a free mutex: owner is the caller %v\n", m.owner == me)
	fmt.Printf("its trylock again: %v\n", umtx(unsafe.Pointer(m), opMutexTrylock, 0, 0, 0))
	size, at := after(20 * time.Millisecond)
	var wg sync.WaitGroup
	onThread(&wg, func() {
		fmt.Printf("another thread's trylock: %v\n", umtx(unsafe.Pointer(m), opMutexTrylock, 0, 0, 0))
		fmt.Printf("another thread's unlock: %v\n", umtx(unsafe.Pointer(m), opMutexUnlock, 0, 0, 0))
		fmt.Printf("another thread's lock for 20ms: %v\n", umtx(unsafe.Pointer(m), opMutexLock, 0, size, at))
	})
	wg.Wait()
	kernelUnlock(m)
	fmt.Printf("unlock of a free mutex: %v\n", umtx(unsafe.Pointer(m), opMutexUnlock, 0, 0, 0))
	fmt.Printf("mutex wait on a free mutex: %v\n", umtx(unsafe.Pointer(m), opMutexWait, 0, 0, 0))

	pi := &umutex{flags: prioInherit}
	kernelLock(pi)
	fmt.Printf("priority-inheriting mutex locked again by its owner: %v\n", umtx(unsafe.Pointer(pi), opMutexLock, 0, 0, 0))
	kernelUnlock(pi)

	high := &umutex{flags: prioProtect, owner: contested, ceilings: [2]uint32{40, 0}}
	fmt.Printf("priority-protected mutex with ceiling 40: %v\n", umtx(unsafe.Pointer(high), opMutexLock, 0, 0, 0))
	pp = &umutex{flags: prioProtect, owner: contested, ceilings: [2]uint32{3, ^uint32(0)}}
	var old uint32
	e := umtx(unsafe.Pointer(pp), opSetCeiling, 12, uintptr(unsafe.Pointer(&old)), 0)
	fmt.Printf("set ceiling 12: %v, old %d, now %d, free %v\n", e, old, pp.ceilings[0], pp.owner == contested)
	fmt.Printf("set ceiling 32: %v\n", umtx(unsafe.Pointer(pp), opSetCeiling, 32, 0, 0))
	fmt.Printf("set ceiling of a normal mutex: %v\n", umtx(unsafe.Pointer(m), opSetCeiling, 1, 0, 0))
	dead := &umutex{flags: prioProtect | robust, owner: ownerDead}
	fmt.Printf("set ceiling of a dead owner's mutex: %v\n", umtx(unsafe.Pointer(dead), opSetCeiling, 1, 0, 0))
	dead.owner = ownerDead + 1
	fmt.Printf("set ceiling of a mutex not recoverable: %v\n", umtx(unsafe.Pointer(dead), opSetCeiling, 1, 0, 0))
	both := &umutex{flags: prioInherit | prioProtect}
	fmt.Printf("lock of a mutex both priority-inheriting and -protected: %v\n",
		umtx(unsafe.Pointer(both), opMutexLock, 0, 0, 0))
}

// A thread that ends holding a robust mutex on its robust list leaves it
// to the next locker with EOWNERDEAD; unlocked as not consistent, it
// cannot be locked again.
func robustMutex() {
	m := &umutex{flags: robust}
	var head uintptr
	locked := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		kernelLock(m)
		head = uintptr(unsafe.Pointer(m))
		params := [3]uintptr{uintptr(unsafe.Pointer(&head)), 0, 0}
		if e := umtx(nil, opRobustLists, unsafe.Sizeof(params), uintptr(unsafe.Pointer(&params)), 0); e != 0 {
			panic(e)
		}
		close(locked)
		// The thread ends here, holding the mutex (Go takes the goroutine
		// for one in a system call, and the system call never returns).
		syscall.Syscall(sysThrExit, 0, 0, 0)
	}()
	<-locked
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	fmt.Printf("robust mutex of a thread that ended: %v, owner is the caller %v\n",
		umtx(unsafe.Pointer(m), opMutexLock, 0, 0, 0), m.owner == tid()|contested)
	m.flags |= nonconsistent
	kernelUnlock(m)
	fmt.Printf("after an unlock as not consistent: %v\n", umtx(unsafe.Pointer(m), opMutexLock, 0, 0, 0))
	fmt.Printf("robust lists with a size of 32: %v\n", umtx(nil, opRobustLists, 32, uintptr(unsafe.Pointer(&head)), 0))
}

// A producer and a consumer hand over 2000 numbers one by one; then a
// broadcast wakes three waiters; then a wait times out.
func conditions() {
	m := &umutex{}
	notEmpty, notFull := &ucond{}, &ucond{}
	wait := func(c *ucond) {
		if e := umtx(unsafe.Pointer(c), opCvWait, 0, uintptr(unsafe.Pointer(m)), 0); e != 0 && e != syscall.EINTR {
			panic(e)
		}
		kernelLock(m)
	}
	slot, full, sum := 0, false, 0
	var wg sync.WaitGroup
	onThread(&wg, func() {
		for i := 1; i <= 2000; i++ {
			kernelLock(m)
			for full {
				wait(notFull)
			}
			slot, full = i, true
			umtx(unsafe.Pointer(notEmpty), opCvSignal, 0, 0, 0)
			kernelUnlock(m)
		}
	})
	onThread(&wg, func() {
		for i := 1; i <= 2000; i++ {
			kernelLock(m)
			for !full {
				wait(notEmpty)
			}
			sum += slot
			full = false
			umtx(unsafe.Pointer(notFull), opCvSignal, 0, 0, 0)
			kernelUnlock(m)
		}
	})
	wg.Wait()
	fmt.Printf("condition variables: sum %d\n", sum)

	gate := &ucond{}
	open, woken := false, 0
	for i := 0; i < 3; i++ {
		onThread(&wg, func() {
			kernelLock(m)
			for !open {
				wait(gate)
			}
			woken++
			kernelUnlock(m)
		})
	}
	for {
		time.Sleep(time.Millisecond)
		if atomic.LoadUint32(&gate.hasWaiters) != 0 {
			break
		}
	}
	// The mutex's owner is a thread: the goroutine stays on one from lock
	// to unlock (a preempted one may move).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	kernelLock(m)
	open = true
	umtx(unsafe.Pointer(gate), opCvBroadcast, 0, 0, 0)
	kernelUnlock(m)
	wg.Wait()
	fmt.Printf("broadcast: %d woken, has_waiters %d\n", woken, gate.hasWaiters)

	ts := [2]int64{0, 20_000_000}
	var e syscall.Errno
	// A signal (Go's preemption, sent just before the call) ends the wait
	// with EINTR, the mutex released, as FreeBSD's do_cv_wait answers it;
	// libthr takes that as a spurious wakeup, and so does this test.
	for {
		if m.owner == 0 {
			kernelLock(m)
		}
		e = umtx(unsafe.Pointer(gate), opCvWait, 0, uintptr(unsafe.Pointer(m)), uintptr(unsafe.Pointer(&ts)))
		if e != syscall.EINTR {
			break
		}
	}
	fmt.Printf("condition wait for 20ms: %v, mutex released %v\n", e, m.owner == 0)
	bad := [2]int64{0, 1_000_000_000}
	kernelLock(m)
	e = umtx(unsafe.Pointer(gate), opCvWait, 0, uintptr(unsafe.Pointer(m)), uintptr(unsafe.Pointer(&bad)))
	fmt.Printf("condition wait with 1e9 nanoseconds: %v, mutex still held %v\n", e, m.owner == tid())
	kernelUnlock(m)
}

// Two writers keep two numbers equal; three readers check that they are.
func rwlocks() {
	rw := &urwlock{}
	a, b := 0, 0
	torn := int32(0)
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		onThread(&wg, func() {
			for j := 0; j < 1500; j++ {
				// A signal (Go's preemption) ends a sleep with EINTR, as
				// FreeBSD's rwlocks do; libthr takes the lock again.
				for e := umtx(unsafe.Pointer(rw), opRwWrlock, 0, 0, 0); e != 0; e = umtx(unsafe.Pointer(rw), opRwWrlock, 0, 0, 0) {
					if e != syscall.EINTR {
						panic(e)
					}
				}
				a++
				runtime.Gosched()
				b++
				umtx(unsafe.Pointer(rw), opRwUnlock, 0, 0, 0)
			}
		})
	}
	for i := 0; i < 3; i++ {
		onThread(&wg, func() {
			for j := 0; j < 1500; j++ {
				for e := umtx(unsafe.Pointer(rw), opRwRdlock, 0, 0, 0); e != 0; e = umtx(unsafe.Pointer(rw), opRwRdlock, 0, 0, 0) {
					if e != syscall.EINTR {
						panic(e)
					}
				}
				if a != b {
					atomic.StoreInt32(&torn, 1)
				}
				umtx(unsafe.Pointer(rw), opRwUnlock, 0, 0, 0)
			}
		})
	}
	wg.Wait()
	fmt.Printf("rwlock: a %d, b %d, a reader saw them differ %v, state %#x\n", a, b, torn != 0, rw.state)
	fmt.Printf("rwlock unlock of a free lock: %v\n", umtx(unsafe.Pointer(rw), opRwUnlock, 0, 0, 0))
	umtx(unsafe.Pointer(rw), opRwRdlock, 0, 0, 0)
	size, at := after(20 * time.Millisecond)
	onThread(&wg, func() {
		fmt.Printf("write lock of a read-locked rwlock for 20ms: %v\n", umtx(unsafe.Pointer(rw), opRwWrlock, 0, size, at))
	})
	wg.Wait()
	// The writer that gave up keeps no reader out.
	size, at = after(time.Second)
	e := umtx(unsafe.Pointer(rw), opRwRdlock, 0, size, at)
	fmt.Printf("then a second read lock: %v, state %#x\n", e, rw.state)
	umtx(unsafe.Pointer(rw), opRwUnlock, 0, 0, 0)
	umtx(unsafe.Pointer(rw), opRwUnlock, 0, 0, 0)
	fmt.Printf("rwlock state at the end: %#x\n", rw.state)
}

// libthr's sem_post and sem_wait on a struct _usem2: four consumers take
// 4000 posts.
func semaphores() {
	s := &usem2{}
	var taken int32
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		onThread(&wg, func() {
			for j := 0; j < 1000; j++ {
				for {
					c := atomic.LoadUint32(&s.count)
					if c&^semHasWaiters != 0 {
						if atomic.CompareAndSwapUint32(&s.count, c, c-1) {
							break
						}
						continue
					}
					if e := umtx(unsafe.Pointer(s), opSem2Wait, 0, 0, 0); e != 0 && e != syscall.EINTR {
						panic(e)
					}
				}
				atomic.AddInt32(&taken, 1)
			}
		})
	}
	onThread(&wg, func() {
		for j := 0; j < 4000; j++ {
			if atomic.AddUint32(&s.count, 1)&semHasWaiters != 0 {
				umtx(unsafe.Pointer(s), opSem2Wake, 0, 0, 0)
			}
			if j%64 == 0 {
				runtime.Gosched()
			}
		}
	})
	wg.Wait()
	fmt.Printf("semaphore: %d taken, count %d\n", taken, s.count&^semHasWaiters)

	size, at := after(20 * time.Millisecond)
	fmt.Printf("semaphore wait for 20ms: %v\n", umtx(unsafe.Pointer(s), opSem2Wait, 0, size, at))
	s.count = 1
	fmt.Printf("semaphore wait with a count: %v\n", umtx(unsafe.Pointer(s), opSem2Wait, 0, size, at))

	old := &usem{}
	done := make(chan syscall.Errno)
	go func() { done <- umtx(unsafe.Pointer(old), opSemWait, 0, 0, 0) }()
	for atomic.LoadUint32(&old.hasWaiters) == 0 {
		time.Sleep(time.Millisecond)
	}
	atomic.AddUint32(&old.count, 1)
	umtx(unsafe.Pointer(old), opSemWake, 0, 0, 0)
	fmt.Printf("old semaphore wait, woken by a post: %v\n", <-done)
}

func errors() {
	m := &umutex{}
	fmt.Printf("operation 0: %v\n", umtx(unsafe.Pointer(m), 0, 0, 0, 0))
	fmt.Printf("operation 29: %v\n", umtx(unsafe.Pointer(m), 29, 0, 0, 0))
	fmt.Printf("mutex lock at 0x1000: %v\n", umtx(unsafe.Pointer(uintptr(0x1000)), opMutexLock, 0, 0, 0))
	fmt.Printf("condition signal at 0x1000: %v\n", umtx(unsafe.Pointer(uintptr(0x1000)), opCvSignal, 0, 0, 0))
	bad := umtxTime{sec: -1, clock: clockMonotonic}
	m.owner = 1
	fmt.Printf("mutex lock with a negative timeout: %v\n",
		umtx(unsafe.Pointer(m), opMutexLock, 0, unsafe.Sizeof(bad), uintptr(unsafe.Pointer(&bad))))
}

// thr_suspend and thr_wake: a wake before the suspend, one while it
// sleeps, the timeouts; thr_set_name's errors.
func suspendAndWake() {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	suspend := func(ts *[2]int64) syscall.Errno {
		_, _, e := syscall.Syscall(sysThrSuspend, uintptr(unsafe.Pointer(ts)), 0, 0)
		return e
	}
	wake := func(id uint32) syscall.Errno {
		_, _, e := syscall.Syscall(sysThrWake, uintptr(id), 0, 0)
		return e
	}
	fmt.Printf("thr_wake of itself: %v, then thr_suspend: %v\n", wake(tid()), suspend(nil))
	fmt.Printf("thr_suspend for 0: %v\n", suspend(&[2]int64{0, 0}))
	fmt.Printf("thr_suspend for 20ms: %v\n", suspend(&[2]int64{0, 20_000_000}))
	fmt.Printf("thr_suspend for -1s: %v\n", suspend(&[2]int64{-1, 0}))
	sleeper := make(chan uint32)
	result := make(chan syscall.Errno)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		sleeper <- tid()
		result <- suspend(nil)
	}()
	id := <-sleeper
	time.Sleep(20 * time.Millisecond)
	fmt.Printf("thr_wake of a suspended thread: %v, its thr_suspend: %v\n", wake(id), <-result)
	fmt.Printf("thr_wake of no thread: %v\n", wake(0x7ffffff0))
	name, _ := syscall.BytePtrFromString("emu-umtx-test")
	_, _, e := syscall.Syscall(sysThrSetName, uintptr(tid()), uintptr(unsafe.Pointer(name)), 0)
	_, _, e2 := syscall.Syscall(sysThrSetName, 0x7ffffff0, uintptr(unsafe.Pointer(name)), 0)
	fmt.Printf("thr_set_name: %v; of no thread: %v\n", e, e2)
}

func main() {
	suspendAndWake()
	mutexes()
	robustMutex()
	conditions()
	rwlocks()
	semaphores()
	errors()
}
