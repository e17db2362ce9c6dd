//go:build linux

package net_test

import (
	"path/filepath"
	"syscall"
	"testing"

	"github.com/confine-sandbox/confine/audit"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// namesAfterFlush is a component keeping NET_ADMIN that flushes its own ruleset first,
// then looks up its declared name for the first time and connects, then dials an
// undeclared address.
func namesAfterFlush(t *testing.T, w *world, dir string) {
	t.Helper()
	w.serve(w.outside, "tcp", "203.0.113.10:80")
	w.serve(w.outside, "tcp", "203.0.113.20:80")
	w.serveDNS(map[string][]string{"api.vendor.example.": {"api.vendor.example. 30 IN A 203.0.113.10"}})
	w.env = []string{"CONFINE_DNS_UPSTREAM=" + upstreamDNS + ":53", "CONFINE_DNS_ALLOW_PRIVATE=203.0.113.0/24"}
	component(t, dir, "flusher", "capabilities: [NET_ADMIN]\nnetwork:\n  connect:\n    - to: api.vendor.example:80/tcp",
		"nftflush:", "dial:tcp/api.vendor.example:80", "dial:tcp/203.0.113.20:80", "sleep:")
}

func checkNamesAfterFlush(t *testing.T, res map[string]result) {
	t.Helper()
	if r := res["nftflush:"]; !r.OK {
		t.Fatalf("the component could not flush its own ruleset (%+v): the test proves nothing", r)
	}
	if r := res["dial:tcp/api.vendor.example:80"]; !r.OK {
		t.Errorf("the declared name after the flush: %+v, want it resolved and connected", r)
	}
	if r := res["dial:tcp/203.0.113.20:80"]; r.OK {
		t.Errorf("an undeclared address connected after the flush (%q)", r.Out)
	}
}

// TestLoneNamesAfterFlush: a lone run's resolver pins a declared name's answer into the
// host table even when the component has flushed its own table (whose names set is
// gone): the name resolves and connects; an undeclared address is still dropped by the
// host and logged.
func TestLoneNamesAfterFlush(t *testing.T) {
	w := newWorld(t, "203.0.113.10", "203.0.113.20", upstreamDNS)
	dir := t.TempDir()
	namesAfterFlush(t, w, dir)
	log := filepath.Join(dir, "audit.log")
	run := w.runLone("--audit-log", log, filepath.Join(dir, "flusher.yaml"))
	checkNamesAfterFlush(t, run.results(t, "dial:tcp/203.0.113.20:80"))
	waitDenials(t, log, map[string]func(audit.Record) bool{
		"to 203.0.113.20:80 on the host": func(r audit.Record) bool {
			return r.Details["chain"] == "uplink from-run" && r.Details["dst"] == "203.0.113.20"
		},
	})
	run.cmd.Process.Signal(syscall.SIGTERM)
	run.cmd.Wait()
}

// TestStackNamesAfterFlush: the same in a stack, where the bridge's names set is the
// one the component cannot reach.
func TestStackNamesAfterFlush(t *testing.T) {
	w := newWorld(t, "203.0.113.10", "203.0.113.20", upstreamDNS)
	dir := t.TempDir()
	namesAfterFlush(t, w, dir)
	stack := testenv.StackName("net-nflush")
	w.upStack(dir, stack, "10.88.8.0/24", []string{"flusher"}, "")
	checkNamesAfterFlush(t, w.results(stack, "flusher", "dial:tcp/203.0.113.20:80"))
	waitDenials(t, filepath.Join(dir, "audit.log"), map[string]func(audit.Record) bool{
		"to 203.0.113.20:80 on the bridge": func(r audit.Record) bool {
			return r.Details["dst"] == "203.0.113.20"
		},
	})
}
