// N reads of the clock (argv[1], default 1000000) through time.Now, for the
// benchmark's cost of a clock read: the Linux build reads the vDSO natively;
// the FreeBSD build makes a clock_gettime system call (emu gives it no
// time page), which a rewritten site's entry answers from the host's vDSO.
package main

import (
	"os"
	"strconv"
	"time"
)

func main() {
	n := 1000000
	if len(os.Args) > 1 {
		n, _ = strconv.Atoi(os.Args[1])
	}
	var sum int64
	for i := 0; i < n; i++ {
		sum += time.Now().UnixNano() & 1
	}
	if n > 0 && sum < 0 {
		os.Exit(1)
	}
}
