// Files, directories, the network and the process as a program sees them,
// printed in a form that does not depend on the OS it was built for: its
// FreeBSD build under emu must print what its Linux build prints natively.
package main

import (
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"
)

func check(what string, err error) {
	if err != nil {
		fmt.Printf("%s: %v\n", what, err)
	}
}

func files(dir string) {
	a := filepath.Join(dir, "a.txt")
	check("write", os.WriteFile(a, []byte("hello, files\n"), 0o640))
	check("mkdir", os.MkdirAll(filepath.Join(dir, "sub", "deeper"), 0o755))
	check("rename", os.Rename(a, filepath.Join(dir, "sub", "b.txt")))
	check("symlink", os.Symlink("sub/b.txt", filepath.Join(dir, "link")))
	check("chmod", os.Chmod(filepath.Join(dir, "sub", "b.txt"), 0o600))
	check("fifo", mkfifo(filepath.Join(dir, "fifo")))
	f, err := os.OpenFile(filepath.Join(dir, "sub", "c.txt"), os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o644)
	check("create", err)
	if f != nil {
		fmt.Fprintf(f, "first\n")
		fmt.Fprintf(f, "second\n")
		check("close", f.Close())
	}
	_, err = os.OpenFile(filepath.Join(dir, "sub", "c.txt"), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	fmt.Printf("create again: exists=%v\n", os.IsExist(err))
	_, err = os.Stat(filepath.Join(dir, "missing"))
	fmt.Printf("stat missing: notexist=%v\n", os.IsNotExist(err))

	var lines []string
	check("walk", filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		line := fmt.Sprintf("%-16s %v", rel, info.Mode())
		if info.Mode().IsRegular() {
			line += fmt.Sprintf(" %d bytes", info.Size())
		}
		if info.Mode()&fs.ModeSymlink != 0 {
			target, _ := os.Readlink(p)
			line += " -> " + target
		}
		lines = append(lines, line)
		return nil
	}))
	for _, l := range lines {
		fmt.Println(l)
	}
	b, err := os.ReadFile(filepath.Join(dir, "link"))
	check("read through link", err)
	fmt.Printf("through the link: %q\n", b)
	entries, err := os.ReadDir(filepath.Join(dir, "sub"))
	check("readdir", err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	fmt.Printf("sub holds %v\n", names)
	st, _ := os.Stat(dir)
	fmt.Printf("dir modified within a minute: %v\n", time.Since(st.ModTime()) < time.Minute)
	check("remove", os.RemoveAll(filepath.Join(dir, "sub")))
	_, err = os.Stat(filepath.Join(dir, "sub"))
	fmt.Printf("removed: %v\n", os.IsNotExist(err))
}

func udp() {
	server, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		fmt.Println("udp listen:", err)
		return
	}
	defer server.Close()
	client, err := net.Dial("udp", server.LocalAddr().String())
	if err != nil {
		fmt.Println("udp dial:", err)
		return
	}
	defer client.Close()
	var got []string
	for i := 0; i < 3; i++ {
		fmt.Fprintf(client, "datagram %d", i)
		buf := make([]byte, 64)
		server.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, from, err := server.ReadFrom(buf)
		if err != nil {
			fmt.Println("udp read:", err)
			return
		}
		got = append(got, string(buf[:n]))
		server.WriteTo([]byte(strings.ToUpper(string(buf[:n]))), from)
		client.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err = client.Read(buf)
		if err != nil {
			fmt.Println("udp reply:", err)
			return
		}
		got = append(got, string(buf[:n]))
	}
	fmt.Printf("udp: %v\n", got)
}

func process() {
	exe, err := os.Executable()
	check("executable", err)
	base := strings.TrimPrefix(strings.TrimPrefix(filepath.Base(exe), "gofreebsd-"), "go-")
	fmt.Printf("executable: %s (absolute %v)\n", base, filepath.IsAbs(exe))
	fmt.Printf("cpus: %v\n", runtime.NumCPU() >= 1)
	wd, err := os.Getwd()
	check("getwd", err)
	fmt.Printf("getwd absolute: %v\n", filepath.IsAbs(wd))
	host, err := os.Hostname()
	check("hostname", err)
	fmt.Printf("hostname: %v\n", host != "")
	fmt.Printf("uid matches euid: %v\n", os.Getuid() == os.Geteuid())
	fmt.Printf("pid: %v, ppid: %v\n", os.Getpid() > 0, os.Getppid() > 0)
	fmt.Printf("env: %s\n", os.Getenv("EMU_TEST_VARIABLE"))
}

func main() {
	dir, err := os.MkdirTemp("", "emu-files-")
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	defer os.RemoveAll(dir)
	files(dir)
	statfs(dir)
	udp()
	process()
	fmt.Println("done")
}
