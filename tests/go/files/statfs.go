package main

import (
	"fmt"
	"os"
	"syscall"
)

// statfs and fstatfs of the same directory, and of a path that is not there.
func statfs(dir string) {
	var byPath, byFd syscall.Statfs_t
	check("statfs", syscall.Statfs(dir, &byPath))
	f, err := os.Open(dir)
	check("open dir", err)
	if f != nil {
		check("fstatfs", syscall.Fstatfs(int(f.Fd()), &byFd))
		f.Close()
	}
	fmt.Printf("statfs: block size %d, blocks %v, the same through fstatfs: %v\n",
		byPath.Bsize, byPath.Blocks > 0, byPath.Blocks == byFd.Blocks && byPath.Files == byFd.Files)
	fmt.Printf("statfs of nothing: %v\n", syscall.Statfs(dir+"/nothing", &byPath))
}
