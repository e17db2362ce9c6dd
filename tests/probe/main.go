//go:build linux

// Command probe runs inside a sandbox and tries one thing per argument, printing one JSON
// line per probe: {"probe": NAME, "ok": true} when the thing worked, or the error.
// Probes are named op:argument, e.g. read:/etc/passwd, write:/data/x, bind:8080.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

type result struct {
	Probe string `json:"probe"`
	OK    bool   `json:"ok"`
	Err   string `json:"err,omitempty"`
	Out   string `json:"out,omitempty"`
}

func main() {
	enc := json.NewEncoder(os.Stdout)
	for _, arg := range os.Args[1:] {
		op, val, _ := strings.Cut(arg, ":")
		out, err := run(op, val)
		r := result{Probe: arg, OK: err == nil, Out: out}
		if err != nil {
			r.Err = err.Error()
		}
		enc.Encode(r)
	}
}

func run(op, val string) (string, error) {
	if out, ok, err := netAdmin(op, val); ok {
		return out, err
	}
	switch op {
	case "read":
		data, err := os.ReadFile(val)
		return fmt.Sprint(len(data)), err
	case "cat":
		data, err := os.ReadFile(val)
		return string(data), err
	case "write":
		return "", os.WriteFile(val, []byte("x"), 0o644)
	case "ls":
		entries, err := os.ReadDir(val)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return strings.Join(names, " "), err
	case "id":
		return fmt.Sprintf("%d:%d", os.Getuid(), os.Getgid()), nil
	case "hostname":
		return os.Hostname()
	case "env":
		return strings.Join(os.Environ(), " "), nil
	case "cwd":
		return os.Getwd()
	case "pid":
		return fmt.Sprint(os.Getpid()), nil
	case "session":
		// session: its session id and process group, "1 1" when the init stage led a
		// new session (in its own pid namespace).
		sid, err := unix.Getsid(0)
		return fmt.Sprintf("%d %d", sid, unix.Getpgrp()), err
	case "fds":
		entries, err := os.ReadDir("/proc/self/fd")
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return strings.Join(names, " "), err
	case "stat":
		// stat:PATH prints the owner as seen here, UID:GID.
		var st unix.Stat_t
		err := unix.Stat(val, &st)
		return fmt.Sprintf("%d:%d", st.Uid, st.Gid), err
	case "mode":
		// mode:PATH prints its type and permissions as ls -l does ("Dcrw-rw-rw-").
		fi, err := os.Stat(val)
		if err != nil {
			return "", err
		}
		return fi.Mode().String(), nil
	case "chown":
		// chown:PATH@UID:GID
		path, ids, _ := strings.Cut(val, "@")
		var uid, gid int
		fmt.Sscanf(ids, "%d:%d", &uid, &gid)
		return "", os.Chown(path, uid, gid)
	case "groups":
		groups, err := os.Getgroups()
		var out []string
		for _, g := range groups {
			out = append(out, fmt.Sprint(g))
		}
		return strings.Join(out, ","), err
	case "mount":
		return "", unix.Mount("tmpfs", val, "tmpfs", 0, "")
	case "unshare":
		return "", unix.Unshare(unix.CLONE_NEWNS)
	case "sethostname":
		return "", unix.Sethostname([]byte(val))
	case "bind":
		l, err := net.Listen("tcp4", "127.0.0.1:"+val)
		if err == nil {
			l.Close()
		}
		return "", err
	case "connect":
		c, err := net.DialTimeout("tcp4", val, 500*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return "", err
	case "syn":
		// syn:HOST:PORT/TIMEOUT connects with a long timeout: a dropped SYN is sent
		// again (after 1 s, 3 s, ...), as a client that waits does.
		addr, wait, _ := strings.Cut(val, "/")
		d, err := time.ParseDuration(wait)
		if err != nil {
			return "", err
		}
		c, err := net.DialTimeout("tcp4", addr, d)
		if err == nil {
			c.Close()
		}
		return "", err
	case "nest":
		// nest:PATH puts this process in a Landlock domain of its own, inside the
		// sandbox's, that refuses writing and creating files, then writes PATH: a
		// denial from a domain the component made itself.
		attr := [1]uint64{1<<1 | 1<<8} // LANDLOCK_ACCESS_FS_WRITE_FILE | MAKE_REG
		fd, _, e := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, uintptr(unsafe.Pointer(&attr[0])), 8, 0)
		if e != 0 {
			return "", fmt.Errorf("landlock_create_ruleset: %w", e)
		}
		if _, _, e := unix.Syscall(unix.SYS_LANDLOCK_RESTRICT_SELF, fd, 0, 0); e != 0 {
			return "", fmt.Errorf("landlock_restrict_self: %w", e)
		}
		unix.Close(int(fd))
		return "", os.WriteFile(val, []byte("x"), 0o644)
	case "status":
		data, err := os.ReadFile("/proc/self/status")
		var lines []string
		for _, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(line, "NoNewPrivs") || strings.HasPrefix(line, "Seccomp:") {
				lines = append(lines, strings.ReplaceAll(line, "\t", ""))
			}
		}
		return strings.Join(lines, " "), err
	case "pivot_root":
		return "", unix.PivotRoot(".", ".")
	case "rawsocket":
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP)
		if err == nil {
			unix.Close(fd)
		}
		return "", err
	case "ptrace":
		_, _, e := unix.Syscall(unix.SYS_PTRACE, unix.PTRACE_ATTACH, 1, 0)
		return "", errnoErr(e)
	case "kill":
		var pid int
		fmt.Sscan(val, &pid)
		return "", unix.Kill(pid, 0)
	case "syscall":
		var nr uintptr
		fmt.Sscan(val, &nr)
		_, _, e := unix.Syscall6(nr, 0, 0, 0, 0, 0, 0)
		return "", errnoErr(e)
	case "repeat":
		// repeat:N/OP:ARG runs the probe OP:ARG N times in a row and reports the first
		// error: a burst of denials for the kernel's audit log.
		count, probe, _ := strings.Cut(val, "/")
		var n int
		fmt.Sscan(count, &n)
		op, arg, _ := strings.Cut(probe, ":")
		var first error
		for i := 0; i < n; i++ {
			if _, err := run(op, arg); err != nil && first == nil {
				first = err
			}
		}
		return fmt.Sprint(n), first
	case "mknod":
		return "", unix.Mknod(val, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3)))
	case "caps":
		data, err := os.ReadFile("/proc/self/status")
		var caps []string
		for _, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(line, "Cap") {
				caps = append(caps, strings.ReplaceAll(line, "\t", ""))
			}
		}
		return strings.Join(caps, " "), err
	case "fork":
		// Start val children that sleep, and report how many started.
		var n, started int
		fmt.Sscan(val, &n)
		var procs []*os.Process
		for i := 0; i < n; i++ {
			p, err := os.StartProcess("/proc/self/exe", []string{"probe", "sleep:"}, &os.ProcAttr{})
			if err != nil {
				break
			}
			procs = append(procs, p)
			started++
		}
		for _, p := range procs {
			p.Kill()
			p.Wait()
		}
		if started < n {
			return fmt.Sprint(started), fmt.Errorf("started %d of %d", started, n)
		}
		return fmt.Sprint(started), nil
	case "children":
		return children(val)
	case "serve":
		// serve:tcp/PORT or serve:udp/PORT answers "hello from HOSTNAME" in the background;
		// serve:tcp/ADDR:PORT listens on ADDR only.
		proto, port, _ := strings.Cut(val, "/")
		return "", serve(proto, port)
	case "serveaddr":
		// serveaddr:tcp/PORT or serveaddr:udp/PORT answers "you are CLIENTADDR".
		proto, port, _ := strings.Cut(val, "/")
		return "", serveWith(proto, port, func(c net.Addr) []byte { return []byte("you are " + c.String() + "\n") })
	case "dial":
		// dial:tcp/HOST:PORT or dial:udp/HOST:PORT reads a server's answer; a second try
		// covers a peer that is still starting.
		proto, addr, _ := strings.Cut(val, "/")
		out, err := dial(proto, addr)
		if err != nil && !isTimeout(err) {
			time.Sleep(300 * time.Millisecond)
			out, err = dial(proto, addr)
		}
		return out, err
	case "sleep":
		time.Sleep(time.Hour)
	case "spin":
		// spin:DURATION burns CPU for that long of wall time (a cpu limit's test reads
		// its cgroup's throttling meanwhile).
		d, err := time.ParseDuration(val)
		for end := time.Now().Add(d); time.Now().Before(end); {
		}
		return "", err
	case "pause":
		// pause:DURATION waits before the next probe, e.g. a server that starts late.
		d, err := time.ParseDuration(val)
		time.Sleep(d)
		return "", err
	case "term":
		// Wait for SIGTERM (a stop's first signal) and report it; with val "ignore",
		// ignore it, so only SIGKILL ends the probe.
		if val == "ignore" {
			signal.Ignore(syscall.SIGTERM)
			time.Sleep(time.Hour)
		}
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGTERM)
		if val == "ready" { // say when the handler is in place
			fmt.Println("ready")
		}
		return (<-c).String(), nil
	case "alloc":
		// Allocate and touch val MiB.
		var mib int
		fmt.Sscan(val, &mib)
		buf := make([]byte, mib<<20)
		for i := 0; i < len(buf); i += 4096 {
			buf[i] = 1
		}
		return fmt.Sprint(len(buf)), nil
	case "forkbomb":
		// forkbomb:MAX forks until fork fails or MAX children run (limits.go).
		var n int
		fmt.Sscan(val, &n)
		return forkBomb(n)
	case "hog":
		// hog:MAX maps and touches memory until a map fails or MAX MiB (limits.go).
		var n int
		fmt.Sscan(val, &n)
		return hog(n)
	case "tty":
		// The terminal on stdin, as ttyname(3) reads it, and whether it is one.
		name, err := os.Readlink("/proc/self/fd/0")
		if err == nil {
			_, err = unix.IoctlGetTermios(0, unix.TCGETS)
		}
		return name, err
	case "exit":
		var code int
		fmt.Sscan(val, &code)
		os.Exit(code)
	}
	if out, ok, err := netRaw(op, val); ok {
		return out, err
	}
	if out, err, ok := unixProbe(op, val); ok {
		return out, err
	}
	return "", fmt.Errorf("unknown probe %q", op)
}

// children runs children:N/OP:ARG,OP:ARG,...: N short-lived children one after another,
// each running the probes and exiting (their output discarded): denials from processes
// that are gone before their records are read. It reports how many exited 0.
func children(val string) (string, error) {
	count, list, _ := strings.Cut(val, "/")
	var n, ok int
	fmt.Sscan(count, &n)
	args := append([]string{"probe"}, strings.Split(list, ",")...)
	for i := 0; i < n; i++ {
		p, err := os.StartProcess("/proc/self/exe", args, &os.ProcAttr{})
		if err != nil {
			return fmt.Sprint(ok), err
		}
		if st, err := p.Wait(); err == nil && st.Success() {
			ok++
		}
	}
	return fmt.Sprint(ok), nil
}

func errnoErr(e syscall.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

func serve(proto, port string) error {
	host, _ := os.Hostname()
	answer := []byte("hello from " + host + "\n")
	return serveWith(proto, port, func(net.Addr) []byte { return answer })
}

// serveWith serves proto/port, answering each client with reply(its address).
func serveWith(proto, port string, reply func(client net.Addr) []byte) error {
	addr := port
	if !strings.Contains(port, ":") {
		addr = ":" + port
	}
	switch proto {
	case "tcp":
		l, err := net.Listen("tcp4", addr)
		if err != nil {
			return err
		}
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				c.Write(reply(c.RemoteAddr()))
				c.Close()
			}
		}()
	case "udp":
		pc, err := net.ListenPacket("udp4", addr)
		if err != nil {
			return err
		}
		go func() {
			buf := make([]byte, 512)
			for {
				_, from, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				pc.WriteTo(reply(from), from)
			}
		}()
	default:
		return fmt.Errorf("serve: expected tcp/PORT or udp/PORT")
	}
	return nil
}

func dial(proto, addr string) (string, error) {
	c, err := net.DialTimeout(proto+"4", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if proto == "udp" {
		if _, err := c.Write([]byte("ping")); err != nil {
			return "", err
		}
	}
	buf := make([]byte, 128)
	n, err := c.Read(buf)
	return strings.TrimSpace(string(buf[:n])), err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
