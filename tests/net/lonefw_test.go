//go:build linux

package net_test

import (
	"path/filepath"
	"syscall"
	"testing"

	"github.com/confine-sandbox/confine/audit"
)

// TestLoneRunHostFilter: a lone component keeping NET_ADMIN flushes its own nftables
// ruleset, and still reaches only what it declares: the host table filters what leaves
// its uplink too. Its declared address works; an undeclared one is dropped and logged
// by the host; a packet from an address not its own (one it adds to eth0) is dropped
// and logged as spoofed, even to a declared destination. After the run, and after a
// SIGKILLed run and the next command, the host namespace is as before.
func TestLoneRunHostFilter(t *testing.T) {
	w := newWorld(t, "203.0.113.10", "203.0.113.20")
	for _, a := range []string{"203.0.113.10:80", "203.0.113.20:80"} {
		w.serve(w.outside, "tcp", a)
	}
	before := w.snapshot()
	dir := t.TempDir()
	const spoofed = "192.0.2.77"
	component(t, dir, "netadmin", "capabilities: [NET_ADMIN]\nnetwork:\n  connect:\n    - to: 203.0.113.10:80/tcp",
		"nftflush:", "dial:tcp/203.0.113.10:80", "dial:tcp/203.0.113.20:80",
		"spoofdial:"+spoofed+"/203.0.113.10:80", "sleep:")
	file, log := filepath.Join(dir, "netadmin.yaml"), filepath.Join(dir, "audit.log")
	run := w.runLone("--audit-log", log, file)
	res := run.results(t, "spoofdial:"+spoofed+"/203.0.113.10:80")
	if r := res["nftflush:"]; !r.OK {
		t.Fatalf("the component could not flush its own ruleset (%+v): the test proves nothing", r)
	}
	if r := res["dial:tcp/203.0.113.10:80"]; !r.OK {
		t.Errorf("the declared address: %+v, want an answer", r)
	}
	for _, probe := range []string{"dial:tcp/203.0.113.20:80", "spoofdial:" + spoofed + "/203.0.113.10:80"} {
		t.Logf("%s: %+v", probe, res[probe])
		if r := res[probe]; r.OK {
			t.Errorf("%s connected (%q); the host must drop it", probe, r.Out)
		}
	}
	waitDenials(t, log, map[string]func(audit.Record) bool{
		"to 203.0.113.20:80 on the host": func(r audit.Record) bool {
			return r.Details["chain"] == "uplink from-run" && r.Details["dst"] == "203.0.113.20"
		},
		"from the spoofed address": func(r audit.Record) bool {
			return r.Details["chain"] == "uplink spoofed" && r.Details["src"] == spoofed
		},
	})
	run.cmd.Process.Signal(syscall.SIGTERM)
	run.cmd.Wait()
	if after := w.snapshot(); after != before {
		t.Errorf("the host namespace changed across the run:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	run = w.runLone(file)
	run.results(t, "dial:tcp/203.0.113.10:80")
	run.cmd.Process.Kill()
	run.cmd.Wait()
	if after := w.snapshot(); after == before {
		t.Error("a SIGKILLed run left nothing: the test would not see the sweep")
	}
	w.confine("version")
	if after := w.snapshot(); after != before {
		t.Errorf("the host namespace changed across a SIGKILLed run and the next command:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// TestLoneNamesHostFilter: the lone resolver pins a declared name's answer into the
// host table as well as into the component's own: after the component flushes its
// ruleset, the answer's address is still reachable (it is declared only by the name),
// and an undeclared address is still dropped and logged by the host.
func TestLoneNamesHostFilter(t *testing.T) {
	w := newWorld(t, "203.0.113.10", "203.0.113.20", upstreamDNS)
	for _, a := range []string{"203.0.113.10:80", "203.0.113.20:80"} {
		w.serve(w.outside, "tcp", a)
	}
	w.serveDNS(map[string][]string{"api.vendor.example.": {"api.vendor.example. 30 IN A 203.0.113.10"}})
	w.env = []string{"CONFINE_DNS_UPSTREAM=" + upstreamDNS + ":53", "CONFINE_DNS_ALLOW_PRIVATE=203.0.113.0/24"}
	before := w.snapshot()
	dir := t.TempDir()
	component(t, dir, "names", "capabilities: [NET_ADMIN]\nnetwork:\n  connect:\n    - to: api.vendor.example:80/tcp",
		"dial:tcp/api.vendor.example:80", "nftflush:", "dial:tcp/203.0.113.10:80", "dial:tcp/203.0.113.20:80", "sleep:")
	log := filepath.Join(dir, "audit.log")
	run := w.runLone("--audit-log", log, filepath.Join(dir, "names.yaml"))
	res := run.results(t, "dial:tcp/203.0.113.20:80")
	for _, probe := range []string{"dial:tcp/api.vendor.example:80", "nftflush:", "dial:tcp/203.0.113.10:80"} {
		if r := res[probe]; !r.OK {
			t.Errorf("%s: %+v, want it to work", probe, r)
		}
	}
	if r := res["dial:tcp/203.0.113.20:80"]; r.OK {
		t.Errorf("an undeclared address connected after the flush (%q); the host must drop it", r.Out)
	}
	waitDenials(t, log, map[string]func(audit.Record) bool{
		"to 203.0.113.20:80 on the host": func(r audit.Record) bool {
			return r.Details["chain"] == "uplink from-run" && r.Details["dst"] == "203.0.113.20"
		},
	})
	run.cmd.Process.Signal(syscall.SIGTERM)
	run.cmd.Wait()
	if after := w.snapshot(); after != before {
		t.Errorf("the host namespace changed across the run:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}
