//go:build linux

package net_test

import (
	osexec "os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/confine-sandbox/confine/audit"
	"github.com/confine-sandbox/confine/netfilter"
	"github.com/confine-sandbox/confine/supervisor"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// TestEgress: a declared outside address, a CIDR and a UDP port are reachable through
// the uplink, masqueraded behind the host's address; an undeclared address, the host's
// own address and an undeclared host port are dropped and logged; host:PORT reaches the
// host's service. After down the host namespace is as before.
func TestEgress(t *testing.T) {
	w := newWorld(t, "203.0.113.10", "203.0.113.20", "203.0.113.33")
	for _, a := range []string{"203.0.113.10:80", "203.0.113.20:80", "203.0.113.33:80"} {
		w.serve(w.outside, "tcp", a)
	}
	w.serve(w.outside, "udp", "203.0.113.10:7000")
	w.serve(w.host, "tcp", "0.0.0.0:9000")
	w.serve(w.host, "tcp", "0.0.0.0:9001")
	before := w.snapshot()

	dir := t.TempDir()
	component(t, dir, "a", `network:
  connect:
    - to: 203.0.113.10:80/tcp
    - to: 203.0.113.32/28:80/tcp
    - to: 203.0.113.10:7000/udp
    - to: host:9000/tcp
    - to: 198.51.100.1:9001/tcp`,
		"dial:tcp/203.0.113.10:80", "dial:tcp/203.0.113.33:80", "dial:udp/203.0.113.10:7000", "dial:tcp/host:9000",
		"dial:tcp/203.0.113.20:80", "dial:tcp/198.51.100.1:9001", "dial:tcp/host:9001", "sleep:")
	component(t, dir, "b", "", "dial:tcp/203.0.113.10:80", "sleep:")
	stack := testenv.StackName("net-egress")
	w.upStack(dir, stack, "10.81.0.0/24", []string{"a", "b"}, "")

	res := w.results(stack, "a", "dial:tcp/host:9001")
	for probe, want := range map[string]string{
		"dial:tcp/203.0.113.10:80":   w.outside + " 203.0.113.10:80 sees " + hostAddr + ":",
		"dial:tcp/203.0.113.33:80":   w.outside + " 203.0.113.33:80 sees " + hostAddr + ":",
		"dial:udp/203.0.113.10:7000": w.outside + " 203.0.113.10:7000 sees " + hostAddr + ":",
		"dial:tcp/host:9000":         w.host + " 0.0.0.0:9000 sees ",
	} {
		if r := res[probe]; !r.OK || !strings.HasPrefix(r.Out, want) {
			t.Errorf("a %s: %+v, want an answer starting %q", probe, r, want)
		}
	}
	for _, probe := range []string{"dial:tcp/203.0.113.20:80", "dial:tcp/198.51.100.1:9001", "dial:tcp/host:9001"} {
		if r := res[probe]; r.OK {
			t.Errorf("a %s connected (%q); it must be dropped", probe, r.Out)
		}
	}
	if r := w.results(stack, "b", "dial:tcp/203.0.113.10:80")["dial:tcp/203.0.113.10:80"]; r.OK {
		t.Errorf("b reached an outside address it did not declare: %q", r.Out)
	}
	waitDenials(t, dir+"/audit.log", map[string]func(audit.Record) bool{
		"a to 203.0.113.20:80 (undeclared)": func(r audit.Record) bool { return r.Component == "a" && r.Details["dst"] == "203.0.113.20" },
		"a to host:9001 (undeclared)": func(r audit.Record) bool {
			return r.Component == "a" && r.Details["dport"] == float64(9001) && r.Details["chain"] == "egress"
		},
		"the host's own address": func(r audit.Record) bool {
			return r.Details["chain"] == "uplink uplink" && r.Details["dst"] == hostAddr
		},
	})

	w.confine("down", "--grace", "1s", stack)
	if after := w.snapshot(); after != before {
		t.Errorf("the host namespace changed across up and down:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// TestEgressSupervisorKilled: two stacks share the host's forwarding setting; one
// supervisor is SIGKILLed and the next command removes its uplink while the other
// stack's egress keeps working; after the other's down the host is as before.
func TestEgressSupervisorKilled(t *testing.T) {
	w := newWorld(t, "203.0.113.10")
	w.serve(w.outside, "tcp", "203.0.113.10:80")
	before := w.snapshot()
	k1, k2 := testenv.StackName("net-k1"), testenv.StackName("net-k2")
	body := "network:\n  connect:\n    - to: 203.0.113.10:80/tcp"
	dirs := map[string]string{k1: t.TempDir(), k2: t.TempDir()}
	for _, dir := range dirs {
		component(t, dir, "c", body, "dial:tcp/203.0.113.10:80", "sleep:")
	}
	w.upStack(dirs[k1], k1, "10.82.0.0/24", []string{"c"}, "")
	w.upStack(dirs[k2], k2, "10.82.0.0/24", []string{"c"}, "") // the same subnet: each has its own namespace and /30
	for stack := range dirs {
		r := w.results(stack, "c", "dial:tcp/203.0.113.10:80")["dial:tcp/203.0.113.10:80"]
		if !r.OK {
			t.Errorf("%s's c could not reach its declared outside address: %+v", stack, r)
		}
	}
	sup, alive := supervisor.Running(k1)
	if !alive {
		t.Fatal("no supervisor for net-k1")
	}
	syscall.Kill(sup, syscall.SIGKILL)
	for i := 0; !testenv.Exited(sup); i++ { // its holder lock is free only then
		if i == 200 {
			t.Fatal("the supervisor outlived SIGKILL")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(w.ip("-n", w.host, "-o", "link"), "cfu") {
		t.Fatal("the killed supervisor's uplink should be left for the next command to find")
	}
	w.confine("ps", k2) // any command sweeps
	if links := w.ip("-n", w.host, "-o", "link"); strings.Count(links, "cfu") != 1 {
		t.Errorf("after the sweep, want one uplink (net-k2's), have:\n%s", links)
	}
	// The host still forwards for net-k2 (the setting both stacks needed stays): a
	// connection made in net-k2's bridge namespace goes out through its uplink.
	c, err := netfilter.DialFrom(netfilter.StackNSPath(k2), "tcp4", "203.0.113.10:80", 2*time.Second)
	if err != nil {
		t.Errorf("net-k2's uplink after the sweep: %v", err)
	} else {
		c.Close()
	}
	w.confine("down", k1)
	w.confine("down", "--grace", "1s", k2)
	if after := w.snapshot(); after != before {
		t.Errorf("the host namespace changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// TestForwardDropExplained: with an iptables FORWARD policy of DROP on the host (as
// Docker sets), egress cannot work; up says why in a network.uplink event.
func TestForwardDropExplained(t *testing.T) {
	w := newWorld(t, "203.0.113.10")
	w.serve(w.outside, "tcp", "203.0.113.10:80")
	for _, args := range [][]string{
		{"add", "table", "ip", "filter"},
		{"add", "chain", "ip", "filter", "FORWARD", "{ type filter hook forward priority 0; policy drop; }"},
	} {
		if out, err := osexec.Command("nsenter", append([]string{"--net=" + nsPath(w.host), "nft"}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("nft %v: %v\n%s", args, err, out)
		}
	}
	dir, stack := t.TempDir(), testenv.StackName("net-fwdrop")
	component(t, dir, "c", "network:\n  connect:\n    - to: 203.0.113.10:80/tcp", "dial:tcp/203.0.113.10:80", "sleep:")
	w.upStack(dir, stack, "10.85.0.0/24", []string{"c"}, "")
	if r := w.results(stack, "c", "dial:tcp/203.0.113.10:80")["dial:tcp/203.0.113.10:80"]; r.OK {
		t.Errorf("egress worked through a FORWARD policy of DROP: %q", r.Out)
	}
	records, err := audit.ReadLog(dir + "/audit.log")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(records, func(r audit.Record) bool {
		w, _ := r.Details["warning"].(string)
		return r.Kind == "network.uplink" && strings.Contains(w, "chain FORWARD of table filter drops forwarded packets by policy")
	}) {
		t.Error("no network.uplink event explains the FORWARD policy of DROP")
	}
}
