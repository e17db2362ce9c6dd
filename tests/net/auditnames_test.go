//go:build linux

package net_test

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/confine-sandbox/confine/audit"
	"github.com/confine-sandbox/confine/learn"
)

// TestAuditModeNames: an audit-mode component that resolves a declared name through the
// stack's resolver and calls it on a port it does not declare is recorded with the name
// (details.name) at both layers, and learning from the log writes NAME:PORT/PROTO, not
// the address.
func TestAuditModeNames(t *testing.T) {
	w := newWorld(t, "203.0.113.10", upstreamDNS)
	w.serve(w.outside, "tcp", "203.0.113.10:80")
	w.serve(w.outside, "tcp", "203.0.113.10:81")
	w.serveDNS(map[string][]string{"api.vendor.example.": {"api.vendor.example. 60 IN A 203.0.113.10"}})
	w.env = []string{"CONFINE_DNS_UPSTREAM=" + upstreamDNS + ":53", "CONFINE_DNS_ALLOW_PRIVATE=203.0.113.0/24"}
	dir := t.TempDir()
	component(t, dir, "app", "mode: audit\nnetwork:\n  connect:\n    - to: api.vendor.example:80/tcp",
		"dial:tcp/api.vendor.example:80", "dial:tcp/api.vendor.example:81", "sleep:")
	const stack = "net-auditnames"
	w.upStack(dir, stack, "10.123.0.0/24", []string{"app"}, "")
	res := w.results(stack, "app", "dial:tcp/api.vendor.example:81")
	for _, p := range []string{"dial:tcp/api.vendor.example:80", "dial:tcp/api.vendor.example:81"} {
		if r := res[p]; !r.OK {
			t.Errorf("%s in audit mode: %+v", p, r)
		}
	}
	log := dir + "/audit.log"
	waitDenials(t, log, map[string]func(audit.Record) bool{"the firewall's": namedConnect("nftables"), "the observed connect's": namedConnect("landlock")})
	checkLearnedName(t, log)
}

// namedConnect matches app's audit-mode connect to 203.0.113.10:81 named by the
// resolver's answer, at mechanism's layer.
func namedConnect(mechanism string) func(audit.Record) bool {
	return func(r audit.Record) bool {
		d := r.Details
		return r.Component == "app" && d["mechanism"] == mechanism && d["direction"] == "connect" &&
			d["dport"] == float64(81) && d["dst"] == "203.0.113.10" && d["name"] == "api.vendor.example"
	}
}

// checkLearnedName: learning from the log writes the name, not the address.
func checkLearnedName(t *testing.T, log string) {
	t.Helper()
	records, err := audit.ReadLog(log)
	if err != nil {
		t.Fatal(err)
	}
	seen := learn.Observe(records)
	if seen.Component != "app" || seen.Connect["api.vendor.example:81/tcp"] == 0 {
		t.Errorf("learned connect %v, want api.vendor.example:81/tcp", seen.Connect)
	}
	for to := range seen.Connect {
		if strings.HasPrefix(to, "203.") {
			t.Errorf("learned a connect to the address, %s", to)
		}
	}
}

// TestLoneAuditModeNames: the same in a lone `confine run`, whose own resolver answers.
func TestLoneAuditModeNames(t *testing.T) {
	w := newWorld(t, "203.0.113.10", upstreamDNS)
	w.serve(w.outside, "tcp", "203.0.113.10:80")
	w.serve(w.outside, "tcp", "203.0.113.10:81")
	w.serveDNS(map[string][]string{"api.vendor.example.": {"api.vendor.example. 60 IN A 203.0.113.10"}})
	w.env = []string{"CONFINE_DNS_UPSTREAM=" + upstreamDNS + ":53", "CONFINE_DNS_ALLOW_PRIVATE=203.0.113.0/24"}
	dir := t.TempDir()
	component(t, dir, "app", "mode: audit\nnetwork:\n  connect:\n    - to: api.vendor.example:80/tcp",
		"dial:tcp/api.vendor.example:80", "dial:tcp/api.vendor.example:81", "sleep:")
	log := filepath.Join(dir, "audit.log")
	run := w.runLone("--audit-log", log, filepath.Join(dir, "app.yaml"))
	res := run.results(t, "dial:tcp/api.vendor.example:81")
	for _, p := range []string{"dial:tcp/api.vendor.example:80", "dial:tcp/api.vendor.example:81"} {
		if r := res[p]; !r.OK {
			t.Errorf("%s in audit mode: %+v", p, r)
		}
	}
	waitDenials(t, log, map[string]func(audit.Record) bool{"the firewall's": namedConnect("nftables"), "the observed connect's": namedConnect("landlock")})
	run.cmd.Process.Signal(syscall.SIGTERM)
	run.cmd.Wait()
	checkLearnedName(t, log)
}
