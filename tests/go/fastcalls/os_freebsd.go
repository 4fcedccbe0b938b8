package main

import (
	"syscall"
	"unsafe"
)

const (
	clockRealtime  = 0
	clockMonotonic = 4
)

func threadID() int {
	var id int64
	syscall.Syscall(432, uintptr(unsafe.Pointer(&id)), 0, 0) // thr_self
	return int(id)
}

func signalThread(tid int, sig syscall.Signal) {
	syscall.Syscall(433, uintptr(tid), uintptr(sig), 0) // thr_kill
}
