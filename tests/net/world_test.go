//go:build linux

// Package net_test runs confine inside network namespaces the test makes: a "host"
// namespace where `confine up` runs, and an "outside" namespace behind it holding the
// upstream services (addresses of TEST-NET-2 and TEST-NET-3, which exist only inside
// these namespaces). No packet leaves them: each test checks the host namespace's routes
// before anything is sent.
package net_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/confine-sandbox/confine/audit"
	"github.com/confine-sandbox/confine/netfilter"
	"github.com/confine-sandbox/confine/supervisor"
	"github.com/confine-sandbox/confine/tests/testenv"
)

var bin, probe string

func TestMain(m *testing.M) {
	testenv.Main(m, "confine-net-", func(dir string) {
		bin, probe = filepath.Join(dir, "confine"), filepath.Join(dir, "probe")
	})
}

// The addresses of the test's world, inside its namespaces only.
const (
	hostAddr    = "198.51.100.1" // the host namespace's link to the outside
	outsideAddr = "198.51.100.2" // the outside's end, the host's default gateway
)

// world is one test's pair of namespaces, pinned by ip netns under unique names.
type world struct {
	t             *testing.T
	host, outside string   // namespace names
	env           []string // added to confine's environment
}

var worlds atomic.Int32

// newWorld makes the host and outside namespaces, a veth between them, the outside's
// service addresses on its loopback, and the host's default route through the outside.
func newWorld(t *testing.T, services ...string) *world {
	t.Helper()
	testenv.Require(t, testenv.Root, testenv.IP, testenv.Nftables, testenv.Command("nsenter"))
	id := fmt.Sprintf("cfn%d-%d", os.Getpid(), worlds.Add(1))
	w := &world{t: t, host: id + "-h", outside: id + "-o"}
	w.ip("netns", "add", w.host)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", w.host).Run() })
	w.ip("netns", "add", w.outside)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", w.outside).Run() })
	w.ip("-n", w.host, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", w.outside)
	for ns, a := range map[string]string{w.host: hostAddr, w.outside: outsideAddr} {
		w.ip("-n", ns, "addr", "add", a+"/24", "dev", "eth0")
		w.ip("-n", ns, "link", "set", "eth0", "addrgenmode", "none") // no IPv6 link-local address coming and going
		w.ip("-n", ns, "link", "set", "eth0", "up")
		w.ip("-n", ns, "link", "set", "lo", "up")
	}
	for _, s := range services {
		w.ip("-n", w.outside, "addr", "add", s+"/32", "dev", "lo")
	}
	w.ip("-n", w.host, "route", "add", "default", "via", outsideAddr)
	w.checkRoutes()
	return w
}

// checkRoutes refuses to go on unless the host namespace routes only to the outside.
func (w *world) checkRoutes() {
	w.t.Helper()
	out := w.ip("-n", w.host, "-4", "-o", "route", "show", "table", "all")
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		switch {
		case strings.HasPrefix(line, "default via "+outsideAddr+" dev eth0"):
		case len(f) > 2 && f[0] == "198.51.100.0/24" && f[2] == "eth0":
		case slices.Contains(f, "table") && slices.Contains(f, "local") && (slices.Contains(f, "lo") || slices.Contains(f, "eth0")):
		default:
			w.t.Fatalf("the host namespace has a route the test did not make, refusing to send anything: %q", line)
		}
	}
}

func (w *world) ip(args ...string) string {
	w.t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		w.t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func nsPath(name string) string { return "/run/netns/" + name }

// confine runs the binary in the host namespace and returns its stdout.
func (w *world) confine(args ...string) string {
	w.t.Helper()
	out, err := w.confineErr(args...)
	if err != nil {
		w.t.Fatalf("confine %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (w *world) confineErr(args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("nsenter", append([]string{"--net=" + nsPath(w.host), "--", bin}, args...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(os.Environ(), w.env...)
	err := cmd.Run()
	return stdout.String() + stderr.String(), err
}

// snapshot is what the host namespace holds that confine may change.
func (w *world) snapshot() string {
	w.t.Helper()
	var b strings.Builder
	// Only ip's standard output: when a namespace under /run/netns goes away while ip
	// names link peers (other tests come and go), it warns on stderr "Peer netns
	// reference is invalid.", which is not a change confine made.
	for _, args := range [][]string{{"-o", "link", "show"}, {"-o", "addr", "show"}, {"route", "show", "table", "all"}} {
		out, err := exec.Command("ip", append([]string{"-n", w.host}, args...)...).Output()
		if err != nil {
			w.t.Fatalf("ip %v: %v", args, err)
		}
		b.Write(out)
	}
	for _, c := range [][]string{
		{"nft", "list", "ruleset"},
		{"sh", "-c", "grep -r . /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv4/conf/"},
	} {
		// Retried: a link that goes away while grep walks conf/ (a killed run's veth,
		// removed with its namespace by the kernel's cleanup work) is an error of grep's.
		var out []byte
		var err error
		for try := 0; try < 20; try++ {
			if out, err = exec.Command("nsenter", append([]string{"--net=" + nsPath(w.host), "--"}, c...)...).CombinedOutput(); err == nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil {
			w.t.Fatalf("%v: %v\n%s", c, err, out)
		}
		b.Write(out)
	}
	return b.String()
}

// serveOutside listens on addr in the outside namespace and answers each TCP connection
// or UDP datagram with "outside ADDR sees CLIENT".
func (w *world) serve(ns, proto, addr string) {
	w.t.Helper()
	err := netfilter.InNamespace(nsPath(ns), func() error {
		switch proto {
		case "tcp":
			l, err := net.Listen("tcp4", addr)
			if err != nil {
				return err
			}
			w.t.Cleanup(func() { l.Close() })
			go func() {
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					fmt.Fprintf(c, "%s %s sees %s\n", ns, addr, c.RemoteAddr())
					c.Close()
				}
			}()
		case "udp":
			pc, err := net.ListenPacket("udp4", addr)
			if err != nil {
				return err
			}
			w.t.Cleanup(func() { pc.Close() })
			go func() {
				buf := make([]byte, 512)
				for {
					_, from, err := pc.ReadFrom(buf)
					if err != nil {
						return
					}
					pc.WriteTo([]byte(fmt.Sprintf("%s %s sees %s\n", ns, addr, from)), from)
				}
			}()
		}
		return nil
	})
	if err != nil {
		w.t.Fatalf("serving %s %s in %s: %v", proto, addr, ns, err)
	}
}

// component writes a policy running the probe with args.
func component(t *testing.T, dir, name, body string, args ...string) {
	t.Helper()
	quoted := []string{strconv.Quote(probe)}
	for _, a := range args {
		quoted = append(quoted, strconv.Quote(a))
	}
	src := fmt.Sprintf("version: 1\nname: %s\nrun:\n  command: [%s]\n  user: \"1000\"\n%s\nfilesystem: {read: [%s]}\nsyscalls: {extends: default}\n",
		name, strings.Join(quoted, ", "), body, probe)
	if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
}

type result struct {
	Probe string
	OK    bool
	Err   string
	Out   string
}

// results reads a component's probe results from its logs, waiting until last appears.
func (w *world) results(stack, name, last string) map[string]result {
	w.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		res := map[string]result{}
		sc := bufio.NewScanner(strings.NewReader(w.confine("logs", stack, name)))
		for sc.Scan() {
			var r result
			if json.Unmarshal(sc.Bytes(), &r) == nil {
				res[r.Probe] = r
			}
		}
		if _, ok := res[last]; ok {
			return res
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("%s never reported %s; it reported %v", name, last, res)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// upStack writes the stack file and brings it up with up -d in the host namespace; the
// test's clean-up takes it down.
func (w *world) upStack(dir, name, subnet string, members []string, extra string) {
	w.t.Helper()
	var files []string
	for _, m := range members {
		files = append(files, m+".yaml")
	}
	src := fmt.Sprintf("version: 1\nname: %s\nsubnet: %s\ncomponents: [%s]\n%s", name, subnet, strings.Join(files, ", "), extra)
	if err := os.WriteFile(filepath.Join(dir, "stack.yaml"), []byte(src), 0o644); err != nil {
		w.t.Fatal(err)
	}
	w.confine("up", "-d", filepath.Join(dir, "stack.yaml"), "--audit-log", filepath.Join(dir, "audit.log"))
	w.t.Cleanup(func() {
		if _, alive := supervisor.Running(name); alive {
			w.confineErr("down", "--grace", "1s", name)
		}
	})
}

// waitDenials waits until the audit log holds a denial matching each of want.
func waitDenials(t *testing.T, log string, want map[string]func(audit.Record) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		records, err := audit.ReadLog(log)
		if err != nil {
			t.Fatal(err)
		}
		var missing []string
		for name, match := range want {
			if !slices.ContainsFunc(records, func(r audit.Record) bool { return r.Kind == audit.KindDenial && match(r) }) {
				missing = append(missing, name)
			}
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, r := range records {
				if r.Kind == audit.KindDenial {
					t.Logf("denial: %s %v", r.Component, r.Details)
				}
			}
			t.Fatalf("denials missing from the log: %v", missing)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
