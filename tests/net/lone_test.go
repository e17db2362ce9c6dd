//go:build linux

package net_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/confine-sandbox/confine/audit"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// lone is a `confine run` in the host namespace, in the background.
type lone struct {
	cmd *exec.Cmd
	mu  sync.Mutex
	out bytes.Buffer
}

func (l *lone) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.out.Write(p)
}

func (l *lone) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.out.String()
}

func (w *world) runLone(args ...string) *lone {
	w.t.Helper()
	l := &lone{}
	l.cmd = exec.Command("nsenter", append([]string{"--net=" + nsPath(w.host), "--", bin, "run", "--grace", "1s"}, args...)...)
	l.cmd.Stdout, l.cmd.Stderr = l, l
	l.cmd.Env = append(os.Environ(), w.env...)
	if err := l.cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { l.cmd.Process.Kill(); l.cmd.Wait() })
	return l
}

// results waits until the run's probe reported last.
func (l *lone) results(t *testing.T, last string) map[string]result {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		res := map[string]result{}
		sc := bufio.NewScanner(strings.NewReader(l.text()))
		for sc.Scan() {
			var r result
			if json.Unmarshal(sc.Bytes(), &r) == nil && r.Probe != "" {
				res[r.Probe] = r
			}
		}
		if _, ok := res[last]; ok {
			return res
		}
		if time.Now().After(deadline) {
			t.Fatalf("the run never reported %s; its output:\n%s", last, l.text())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// gateway is the host end's address of the lone run's uplink (what `host` is to it).
func (w *world) gateway() string {
	w.t.Helper()
	for _, line := range strings.Split(w.ip("-n", w.host, "-4", "-o", "addr", "show"), "\n") {
		if f := strings.Fields(line); len(f) > 3 && strings.HasPrefix(f[1], "cfu") {
			return strings.Split(f[3], "/")[0]
		}
	}
	w.t.Fatal("no uplink in the host namespace")
	return ""
}

// TestLoneRun: a lone `confine run` reaches its declared outside address and CIDR,
// masqueraded behind the host's address, and host:PORT; an undeclared address, an
// undeclared host port and the host's own address are dropped and logged. Its -p ports,
// TCP and UDP, see the outside client's address, and the host's own connections (to its
// address, and to loopback by the rewrite at connect()) as the gateway: `host`. A client
// listen.from does not name is dropped. After the run, and after a SIGKILLed run and
// the next command, the host namespace is as before.
func TestLoneRun(t *testing.T) {
	w := newWorld(t, "203.0.113.10", "203.0.113.20", "203.0.113.33", "203.0.113.50")
	for _, a := range []string{"203.0.113.10:80", "203.0.113.20:80", "203.0.113.33:80"} {
		w.serve(w.outside, "tcp", a)
	}
	w.serve(w.host, "tcp", "0.0.0.0:9000")
	w.serve(w.host, "tcp", "0.0.0.0:9001")
	before := w.snapshot()
	dir := t.TempDir()
	component(t, dir, "lone", `network:
  connect:
    - to: 203.0.113.10:80/tcp
    - to: 203.0.113.32/28:80/tcp
    - to: host:9000/tcp
    - to: 198.51.100.1:9001/tcp
  listen:
    - port: 8080/tcp
      from: [host, 198.51.100.2]
    - port: 5353/udp
      from: [host, 198.51.100.0/24]`,
		"serveaddr:tcp/8080", "serveaddr:udp/5353",
		"dial:tcp/203.0.113.10:80", "dial:tcp/203.0.113.33:80", "dial:tcp/host:9000",
		"dial:tcp/203.0.113.20:80", "dial:tcp/198.51.100.1:9001", "dial:tcp/host:9001", "sleep:")
	file, log := filepath.Join(dir, "lone.yaml"), filepath.Join(dir, "audit.log")
	run := w.runLone("-p", "8080:8080", "-p", "5353:5353/udp", "--audit-log", log, file)
	res := run.results(t, "dial:tcp/host:9001")
	for probe, want := range map[string]string{
		"dial:tcp/203.0.113.10:80": w.outside + " 203.0.113.10:80 sees " + hostAddr + ":",
		"dial:tcp/203.0.113.33:80": w.outside + " 203.0.113.33:80 sees " + hostAddr + ":",
		"dial:tcp/host:9000":       w.host + " 0.0.0.0:9000 sees ",
	} {
		if r := res[probe]; !r.OK || !strings.HasPrefix(r.Out, want) {
			t.Errorf("%s: %+v, want an answer starting %q", probe, r, want)
		}
	}
	for _, probe := range []string{"dial:tcp/203.0.113.20:80", "dial:tcp/198.51.100.1:9001", "dial:tcp/host:9001"} {
		if r := res[probe]; r.OK {
			t.Errorf("%s connected (%q); it must be dropped", probe, r.Out)
		}
	}
	gw := w.gateway()
	for _, c := range []struct {
		what, ns, proto, local, addr, want string
	}{
		{"tcp from outside", w.outside, "tcp", "", hostAddr + ":8080", "you are " + outsideAddr + ":"},
		{"udp from outside", w.outside, "udp", "", hostAddr + ":5353", "you are " + outsideAddr + ":"},
		{"tcp from the host to its address", w.host, "tcp", "", hostAddr + ":8080", "you are " + gw + ":"},
		{"udp from the host to its address", w.host, "udp", "", hostAddr + ":5353", "you are " + gw + ":"},
		{"tcp from the host's loopback (rewritten at connect())", w.host, "tcp", "", "127.0.0.1:8080", "you are " + gw + ":"},
		{"tcp from an outside address listen.from does not name", w.outside, "tcp", "203.0.113.50", hostAddr + ":8080", ""},
	} {
		got, err := ask(c.ns, c.proto, c.local, c.addr)
		switch {
		case c.want == "" && err == nil:
			t.Errorf("%s: answered %q; it must be dropped", c.what, got)
		case c.want != "" && (err != nil || !strings.HasPrefix(got, c.want)):
			t.Errorf("%s: %q (%v), want %q…", c.what, got, err, c.want)
		}
	}
	waitDenials(t, log, map[string]func(audit.Record) bool{
		"to 203.0.113.20:80 (undeclared)": func(r audit.Record) bool { return r.Details["dst"] == "203.0.113.20" && r.Details["chain"] == "egress" },
		"to host:9001 (undeclared)": func(r audit.Record) bool {
			return r.Details["dport"] == float64(9001) && r.Details["chain"] == "egress"
		},
		"the host's own address": func(r audit.Record) bool {
			return r.Details["chain"] == "uplink uplink" && r.Details["dst"] == hostAddr
		},
	})
	run.cmd.Process.Signal(syscall.SIGTERM)
	run.cmd.Wait()
	if after := w.snapshot(); after != before {
		t.Errorf("the host namespace changed across the run:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	// SIGKILLed: the uplink's table and forwarding stay until the next command.
	run = w.runLone("-p", "8080:8080", file)
	run.results(t, "dial:tcp/203.0.113.10:80")
	run.cmd.Process.Kill()
	run.cmd.Wait()
	if after := w.snapshot(); after == before {
		t.Error("a SIGKILLed run left nothing: the test would not see the sweep")
	}
	w.confine("version") // any command sweeps
	if after := w.snapshot(); after != before {
		t.Errorf("the host namespace changed across a SIGKILLed run and the next command:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// TestLoneRunRefusals: -p needs a listen entry naming host or a client, and a protocol
// it knows. Nothing is made on the host.
func TestLoneRunRefusals(t *testing.T) {
	w := newWorld(t)
	before := w.snapshot()
	dir := t.TempDir()
	component(t, dir, "nolisten", "network:\n  listen:\n    - port: 8080/tcp\n      from: [127.0.0.1]", "sleep:")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-p", "8080:8080", filepath.Join(dir, "nolisten.yaml")}, "network.listen names no client for 8080/tcp"},
		{[]string{"-p", "127.0.0.1:8080:8080", filepath.Join(dir, "nolisten.yaml")}, "does not let `host` reach 8080/tcp"},
		{[]string{"-p", "8080:9090", filepath.Join(dir, "nolisten.yaml")}, "names no client for 9090/tcp"},
		{[]string{"-p", "80:80/sctp", filepath.Join(dir, "nolisten.yaml")}, "expected [ADDR:]HOSTPORT:PORT"},
	} {
		out, err := w.confineErr(append([]string{"run"}, c.args...)...)
		if err == nil || !strings.Contains(out, c.want) {
			t.Errorf("run %v: %v, %q; want a refusal saying %q", c.args, err, out, c.want)
		}
	}
	if after := w.snapshot(); after != before {
		t.Errorf("a refused run changed the host namespace:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// TestLegacyForwardDropExplained: a FORWARD policy of DROP in the legacy x_tables
// (iptables-legacy, which nft does not list) drops a lone run's egress; the run says
// why on stderr and in its network.uplink event.
func TestLegacyForwardDropExplained(t *testing.T) {
	testenv.Require(t, testenv.Command("iptables-legacy"))
	w := newWorld(t, "203.0.113.10")
	w.serve(w.outside, "tcp", "203.0.113.10:80")
	if out, err := exec.Command("nsenter", "--net="+nsPath(w.host), "iptables-legacy", "-P", "FORWARD", "DROP").CombinedOutput(); err != nil {
		t.Fatalf("iptables-legacy: %v\n%s", err, out)
	}
	dir := t.TempDir()
	component(t, dir, "c", "network:\n  connect:\n    - to: 203.0.113.10:80/tcp", "dial:tcp/203.0.113.10:80", "sleep:")
	log := filepath.Join(dir, "audit.log")
	run := w.runLone("--audit-log", log, filepath.Join(dir, "c.yaml"))
	if r := run.results(t, "dial:tcp/203.0.113.10:80")["dial:tcp/203.0.113.10:80"]; r.OK {
		t.Errorf("egress worked through a legacy FORWARD policy of DROP: %q", r.Out)
	}
	const want = "legacy iptables (iptables-legacy, invisible to nft) drops forwarded packets by its FORWARD policy"
	if !strings.Contains(run.text(), want) {
		t.Errorf("the run's stderr does not explain the legacy FORWARD policy:\n%s", run.text())
	}
	records, err := audit.ReadLog(log)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(records, func(r audit.Record) bool {
		w, _ := r.Details["warning"].(string)
		return r.Kind == "network.uplink" && strings.Contains(w, want)
	}) {
		t.Error("no network.uplink event explains the legacy FORWARD policy")
	}
}

// TestLoneNames: a lone run's resolver, on its uplink's gateway, answers the name it
// declares, and its answer is reachable; an undeclared name gets NXDOMAIN and a denial
// naming it. After the run the host is as before.
func TestLoneNames(t *testing.T) {
	w := newWorld(t, "203.0.113.10", upstreamDNS)
	w.serve(w.outside, "tcp", "203.0.113.10:80")
	w.serveDNS(map[string][]string{
		"api.vendor.example.": {"api.vendor.example. 2 IN A 203.0.113.10"},
		"undeclared.example.": {"undeclared.example. 2 IN A 203.0.113.10"},
	})
	w.env = []string{"CONFINE_DNS_UPSTREAM=" + upstreamDNS + ":53", "CONFINE_DNS_ALLOW_PRIVATE=203.0.113.0/24"}
	before := w.snapshot()
	dir := t.TempDir()
	// 0.0.0.0/0:53/udp holds the resolver's host:53/udp, which the run must not add twice.
	component(t, dir, "app", "network:\n  connect:\n    - to: api.vendor.example:80/tcp\n    - to: 0.0.0.0/0:53/udp",
		"dial:tcp/api.vendor.example:80", "dial:tcp/undeclared.example:80", "sleep:")
	log := filepath.Join(dir, "audit.log")
	run := w.runLone("--audit-log", log, filepath.Join(dir, "app.yaml"))
	res := run.results(t, "dial:tcp/undeclared.example:80")
	if r := res["dial:tcp/api.vendor.example:80"]; !r.OK || !strings.HasPrefix(r.Out, w.outside+" 203.0.113.10:80 sees "+hostAddr+":") {
		t.Errorf("the declared name: %+v", r)
	}
	if r := res["dial:tcp/undeclared.example:80"]; r.OK || !strings.Contains(r.Err, "no such host") {
		t.Errorf("the undeclared name: %+v, want no such host (NXDOMAIN)", r)
	}
	waitDenials(t, log, map[string]func(audit.Record) bool{
		"undeclared.example": func(r audit.Record) bool {
			return r.Details["chain"] == "resolver" && r.Details["name"] == "undeclared.example"
		},
	})
	run.cmd.Process.Signal(syscall.SIGTERM)
	run.cmd.Wait()
	if after := w.snapshot(); after != before {
		t.Errorf("the host namespace changed across the run:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}
