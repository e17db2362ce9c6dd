//go:build linux

package stack_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/confine-sandbox/confine/netfilter"
	"github.com/confine-sandbox/confine/supervisor"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// TestHealthFromBridge: a TCP health check dials from the bridge address through the
// component's firewall, which the Plan opens for the checked port only. svc serves 7000
// (checked) and 7001 (declared, but from nothing that resolves): it is healthy, explain
// shows the rule, and from the bridge address 7000 answers while 7001 is dropped, not
// refused, though a listener is there.
func TestHealthFromBridge(t *testing.T) {
	testenv.Require(t, testenv.Root, testenv.Nftables)
	name := uniqueName("hbridge", 0)
	dir := t.TempDir()
	component(t, dir, "svc", "  health: {tcp: 7000, interval: 200ms}\nnetwork:\n  listen: [{port: 7000/tcp, from: [host]}, {port: 7001/tcp, from: [host]}]",
		"serve:tcp/7000", "serve:tcp/7001", "sleep:")
	upStack(t, dir, name, "10.97.0.0/24", []string{"svc"}, "", "--grace", "100ms")
	if st := status(t, name)["svc"]; st.Health != supervisor.HealthHealthy {
		t.Fatalf("svc after up: %+v", st)
	}
	if res := results(t, name, "svc", "serve:tcp/7001"); !res["serve:tcp/7001"].OK {
		t.Fatalf("svc could not serve 7001: %+v", res["serve:tcp/7001"])
	}
	out := confine(t, "explain", filepath.Join(dir, "stack.yaml"))
	if !strings.Contains(out, "7000/tcp from the bridge address 10.97.0.1 (the supervisor's health check") || strings.Contains(out, "7001/tcp from the bridge") {
		t.Errorf("explain does not show the health check's rule alone:\n%s", out)
	}
	ns := netfilter.StackNSPath(name)
	conn, err := netfilter.DialFrom(ns, "tcp4", "10.97.0.2:7000", 5*time.Second)
	if err != nil {
		t.Fatalf("the checked port from the bridge: %v", err)
	}
	conn.SetDeadline(time.Now().Add(3 * time.Second))
	answer, _ := bufio.NewReader(conn).ReadString('\n')
	conn.Close()
	if strings.TrimSpace(answer) != "hello from svc" {
		t.Errorf("the checked port from the bridge answered %q", answer)
	}
	_, err = netfilter.DialFrom(ns, "tcp4", "10.97.0.2:7001", 2*time.Second)
	var ne net.Error
	if err == nil || !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("another port from the bridge address: %v, want a timeout (dropped by the component's firewall)", err)
	}
}

// TestHealthLoopbackOnly: a listener bound to 127.0.0.1 answers inside the component but
// not its callers, so it is never healthy: up -d fails at --wait, saying why, and leaves
// nothing behind.
func TestHealthLoopbackOnly(t *testing.T) {
	testenv.Require(t, testenv.Root, testenv.Nftables)
	name := uniqueName("hloop", 0)
	file := writeStack(t, name, "10.97.1.0/24", "  health: {tcp: 7000, interval: 100ms}\nnetwork:\n  listen: [{port: 7000/tcp, from: [host]}]\n  connect: [{to: \"127.0.0.1:7000/tcp\"}]",
		"serve:tcp/127.0.0.1:7000", "dial:tcp/127.0.0.1:7000", "sleep:")
	_, errOut, code := runConfine("up", "-d", "--wait", "3s", "--grace", "100ms", "--audit-log", filepath.Join(filepath.Dir(file), "audit.log"), file)
	if code != 2 || !strings.Contains(errOut, "svc is not healthy") || !strings.Contains(errOut, "tcp 10.97.1.2:7000 from the bridge 10.97.1.1") ||
		!strings.Contains(errOut, "connection refused") {
		t.Errorf("up -d of a component listening on 127.0.0.1 only: exit %d, %q", code, errOut)
	}
	assertNothingLeft(t, name)
	// The server did answer over the component's own loopback: what the check refused
	// is reachability, not a broken server.
	lines, err := supervisor.ReadLogFile(filepath.Join(filepath.Dir(file), "logs"), "svc", 0)
	var r result
	for _, l := range lines {
		if json.Unmarshal([]byte(l.Line), &r) == nil && r.Probe == "dial:tcp/127.0.0.1:7000" {
			break
		}
	}
	if err != nil || !r.OK || strings.TrimSpace(r.Out) != "hello from svc" {
		t.Errorf("svc dialling its own 127.0.0.1:7000: %+v (%v)", r, err)
	}
}
