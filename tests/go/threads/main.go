// Go's runtime under emu: threads (Ms) for goroutines, timers, channels,
// os/exec, os/signal, a recovered nil-pointer panic, asynchronous
// preemption, TCP over loopback. Each part prints a line; the output is
// the same natively and under emu.
package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"sort"
	"sync"
	"syscall"
	"time"
)

func goroutines() {
	runtime.GOMAXPROCS(4)
	var wg sync.WaitGroup
	var mu sync.Mutex
	sums := map[int]int{}
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			s := 0
			for j := 0; j < 200000; j++ {
				s += j % (i + 1)
			}
			mu.Lock()
			sums[i] = s
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	total := 0
	for _, s := range sums {
		total += s
	}
	fmt.Println("goroutines:", len(sums), total)
}

func channels() {
	ch := make(chan int)
	done := make(chan []int)
	go func() {
		var got []int
		for v := range ch {
			got = append(got, v)
		}
		done <- got
	}()
	for i := 0; i < 1000; i++ {
		ch <- i
	}
	close(ch)
	got := <-done
	fmt.Println("channels:", len(got), got[999])
}

func timers() {
	start := time.Now()
	var order []int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, d := range []int{30, 10, 20} {
		d := d
		wg.Add(1)
		time.AfterFunc(time.Duration(d)*time.Millisecond, func() {
			mu.Lock()
			order = append(order, d)
			mu.Unlock()
			wg.Done()
		})
	}
	wg.Wait()
	t := time.NewTicker(5 * time.Millisecond)
	for i := 0; i < 3; i++ {
		<-t.C
	}
	t.Stop()
	fmt.Println("timers:", order, time.Since(start) >= 30*time.Millisecond)
}

func execs() {
	out, err := exec.Command("/bin/busybox", "sh", "-c", "echo from child; echo err >&2; exit 3").Output()
	fmt.Printf("exec: %q %v\n", out, err)
	cmd := exec.Command("/bin/busybox", "sort")
	in, _ := cmd.StdinPipe()
	outp, _ := cmd.StdoutPipe()
	cmd.Start()
	fmt.Fprintln(in, "pear\napple\nfig")
	in.Close()
	var lines []string
	sc := bufio.NewScanner(outp)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	fmt.Println("pipes:", lines, cmd.Wait())
	err = exec.Command("/nonexistent/emu-program").Run()
	fmt.Println("missing program:", err)
}

func signals() {
	c := make(chan os.Signal, 2)
	signal.Notify(c, syscall.SIGUSR1, syscall.SIGINT)
	syscall.Kill(os.Getpid(), syscall.SIGUSR1)
	first := <-c
	syscall.Kill(os.Getpid(), syscall.SIGINT)
	second := <-c
	got := []string{first.String(), second.String()}
	sort.Strings(got)
	fmt.Println("signals:", got)
	signal.Stop(c)
}

func panics() {
	defer func() {
		r := recover()
		fmt.Println("recovered:", r)
	}()
	var p *struct{ x int }
	fmt.Println(p.x)
}

func preemption() {
	runtime.GOMAXPROCS(1)
	stop := false
	done := make(chan bool)
	go func() {
		n := 0
		for !stop {
			n++
		}
		done <- true
	}()
	time.Sleep(20 * time.Millisecond)
	stop = true
	<-done
	runtime.GOMAXPROCS(4)
	fmt.Println("preemption: the loop was interrupted")
}

func tcp() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println("listen:", err)
		return
	}
	go func() {
		for i := 0; i < 3; i++ {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				buf := make([]byte, 64)
				n, _ := c.Read(buf)
				c.Write(append([]byte("echo: "), buf[:n]...))
				c.Close()
			}(conn)
		}
	}()
	var replies []string
	for i := 0; i < 3; i++ {
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			fmt.Println("dial:", err)
			return
		}
		fmt.Fprintf(conn, "message %d", i)
		buf := make([]byte, 64)
		n, _ := conn.Read(buf)
		replies = append(replies, string(buf[:n]))
		conn.Close()
	}
	fmt.Println("tcp:", replies)
}

func main() {
	goroutines()
	channels()
	timers()
	execs()
	signals()
	panics()
	preemption()
	tcp()
}
