//go:build linux

package net_test

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/confine-sandbox/confine/audit"
)

// TestLoneRunNetRaw: a lone component keeping NET_RAW sends SYNs by a raw IP socket
// and as Ethernet frames by a packet socket (past every netfilter hook of its own
// namespace): from a forged source to its declared destination, and from its own
// address to an undeclared one. The host drops and logs each; none reaches the outside,
// while the same frame from its own address to the declared destination does, and a
// plain connection to it works.
func TestLoneRunNetRaw(t *testing.T) {
	w := newWorld(t, "203.0.113.10", "203.0.113.20")
	for _, a := range []string{"203.0.113.10:80", "203.0.113.20:80"} {
		w.serve(w.outside, "tcp", a)
	}
	// What the outside receives: the frames' source port is 40000.
	nft := exec.Command("nsenter", "--net="+nsPath(w.outside), "nft", "-f", "-")
	nft.Stdin = strings.NewReader(`table inet seen {
	counter forged {}
	counter undeclared {}
	counter declared {}
	chain pre {
		type filter hook prerouting priority -300; policy accept;
		ip saddr 192.0.2.0/24 counter name forged
		tcp sport 40000 ip daddr 203.0.113.20 counter name undeclared
		tcp sport 40000 ip daddr 203.0.113.10 counter name declared
	}
}`)
	if out, err := nft.CombinedOutput(); err != nil {
		t.Fatalf("nft in the outside namespace: %v\n%s", err, out)
	}
	before := w.snapshot()
	dir := t.TempDir()
	probes := []string{"rawframe:192.0.2.77/203.0.113.10:80", "rawip:192.0.2.78/203.0.113.10:80",
		"rawframe:self/203.0.113.20:80", "rawframe:self/203.0.113.10:80"}
	component(t, dir, "netraw", "capabilities: [NET_RAW]\nnetwork:\n  connect:\n    - to: 203.0.113.10:80/tcp",
		append(probes, "dial:tcp/203.0.113.10:80", "sleep:")...)
	log := filepath.Join(dir, "audit.log")
	run := w.runLone("--audit-log", log, filepath.Join(dir, "netraw.yaml"))
	res := run.results(t, "dial:tcp/203.0.113.10:80")
	for _, p := range append(probes, "dial:tcp/203.0.113.10:80") {
		if r := res[p]; !r.OK {
			t.Errorf("%s: %+v, want it sent (the test proves nothing without it)", p, r)
		}
	}
	waitDenials(t, log, map[string]func(audit.Record) bool{
		"the forged frame": func(r audit.Record) bool {
			return r.Details["chain"] == "uplink spoofed" && r.Details["src"] == "192.0.2.77"
		},
		"the forged raw IP packet": func(r audit.Record) bool {
			return r.Details["chain"] == "uplink spoofed" && r.Details["src"] == "192.0.2.78"
		},
		"the frame to 203.0.113.20:80": func(r audit.Record) bool {
			return r.Details["chain"] == "uplink from-run" && r.Details["dst"] == "203.0.113.20"
		},
	})
	seen := func(name string) int {
		out, err := exec.Command("nsenter", "--net="+nsPath(w.outside), "nft", "list", "counter", "inet", "seen", name).CombinedOutput()
		m := regexp.MustCompile(`packets (\d+)`).FindSubmatch(out)
		if err != nil || m == nil {
			t.Fatalf("counter %s: %v\n%s", name, err, out)
		}
		n, _ := strconv.Atoi(string(m[1]))
		return n
	}
	if n := seen("declared"); n == 0 {
		t.Error("the frame to the declared destination never reached the outside: the frames prove nothing")
	}
	for _, c := range []string{"forged", "undeclared"} {
		if n := seen(c); n != 0 {
			t.Errorf("%d %s packets reached the outside", n, c)
		}
	}
	run.cmd.Process.Signal(syscall.SIGTERM)
	run.cmd.Wait()
	if after := w.snapshot(); after != before {
		t.Errorf("the host namespace changed across the run:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}
