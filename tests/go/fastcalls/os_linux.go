package main

import "syscall"

const (
	clockRealtime  = 0
	clockMonotonic = 1
)

func threadID() int { return syscall.Gettid() }

func signalThread(tid int, sig syscall.Signal) {
	syscall.Tgkill(syscall.Getpid(), tid, sig)
}
