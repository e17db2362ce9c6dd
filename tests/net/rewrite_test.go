//go:build linux

package net_test

import (
	"bufio"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/audit"
	"github.com/confine-sandbox/confine/netfilter"
	"github.com/confine-sandbox/confine/supervisor"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// dialed is one connection's view from the client: the first line of the answer, the
// socket's own address (getsockname) and its peer's (getpeername).
type dialed struct{ answer, local, remote string }

func dialIn(ns, addr string) (d dialed, err error) {
	err = netfilter.InNamespace(nsPath(ns), func() error {
		c, err := net.DialTimeout("tcp4", addr, time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(time.Second))
		d.local, d.remote = c.LocalAddr().String(), c.RemoteAddr().String()
		d.answer, err = bufio.NewReader(c).ReadString('\n')
		d.answer = strings.TrimSpace(d.answer)
		return err
	})
	return d, err
}

// rewriteLinks waits for the publish.rewrite record in log and returns its links; under
// CI=true a rewrite that could not be attached fails the test.
func rewriteLinks(t *testing.T, log string) []link.ID {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		records, err := audit.ReadLog(log)
		if err != nil && !errors.Is(err, syscall.ENOENT) {
			t.Fatal(err)
		}
		for i := len(records) - 1; i >= 0; i-- { // the last run's
			r := records[i]
			if r.Kind != supervisor.EventPublishRewrite {
				continue
			}
			links, ok := r.Details["links"].([]any)
			if !ok {
				testenv.Missing(t, "the connect-time rewrite is not attached: %v", r.Details)
			}
			var ids []link.ID
			for _, v := range links {
				ids = append(ids, link.ID(v.(float64)))
			}
			return ids
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s record in %s", supervisor.EventPublishRewrite, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// linksGone waits until none of ids is a link any more.
func linksGone(t *testing.T, ids []link.ID, when string) {
	t.Helper()
	for i := 0; ; i++ {
		var left []link.ID
		for _, id := range ids {
			l, err := link.NewFromID(id)
			if err == nil {
				l.Close()
			}
			if !errors.Is(err, unix.ENOENT) {
				left = append(left, id)
			}
		}
		if len(left) == 0 {
			return
		}
		if i == 100 {
			t.Fatalf("%s: links %v remain", when, left)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkRewritten: a connection from the host's loopback to addr reaches the component
// by the rewrite (its socket's own address is the gateway's, not loopback, and
// getpeername says what was dialed), seen by it as wantPeer (`host`).
func checkRewritten(t *testing.T, w *world, addr, gw, wantPeer string) {
	t.Helper()
	d, err := dialIn(w.host, addr)
	switch {
	case err != nil || !strings.HasPrefix(d.answer, "you are "+wantPeer+":"):
		t.Errorf("%s from the host: %+v (%v), want an answer from %s", addr, d, err, wantPeer)
	case !strings.HasPrefix(d.local, gw+":"):
		t.Errorf("%s from the host left from %s, want the gateway %s: not rewritten (the proxy?)", addr, d.local, gw)
	case d.remote != addr:
		t.Errorf("getpeername of a connection to %s: %s", addr, d.remote)
	}
}

// checkBoundProxied: a host client that binds 127.0.0.1 before it connects to addr,
// which the rewrite would send where a loopback source cannot go (EINVAL), is served by
// the proxy, seen by the component as wantPeer (`host`).
func checkBoundProxied(t *testing.T, w *world, addr, wantPeer string) {
	t.Helper()
	if got, err := ask(w.host, "tcp", "127.0.0.1", addr); err != nil || !strings.HasPrefix(got, "you are "+wantPeer+":") {
		t.Errorf("%s from the host, bound to 127.0.0.1: %q (%v), want the proxy's answer from %s", addr, got, err, wantPeer)
	}
}

// waitFailed waits for a publish.failed record of host in log.
func waitFailed(t *testing.T, log, host string) audit.Record {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		records, _ := audit.ReadLog(log)
		for _, r := range records {
			if r.Kind == supervisor.EventPublishFailed && r.Details["host"] == host {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s record for %s in %s", supervisor.EventPublishFailed, host, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkOtherNamespace: the outside namespace's own 127.0.0.1:PORT answers there.
func checkOtherNamespace(t *testing.T, w *world, addr string) {
	t.Helper()
	if got, err := ask(w.outside, "tcp", "", addr); err != nil || !strings.HasPrefix(got, w.outside+" "+addr+" sees 127.0.0.1:") {
		t.Errorf("%s in another namespace: %q (%v), want its own listener", addr, got, err)
	}
}

// TestPublishRewrite: a stack's port published on 0.0.0.0 is reached from the host's
// loopback by the connect-time rewrite, the component seeing the bridge address
// (`host`); the host connecting straight to the uplink's end or the components'
// addresses gains nothing (the host has no route into the stack); another namespace's own
// 127.0.0.1:PORT is untouched. After down, and after a SIGKILLed supervisor, no link
// remains and nothing answers.
func TestPublishRewrite(t *testing.T) {
	w := newWorld(t)
	w.serve(w.outside, "tcp", "127.0.0.1:8080")
	dir := t.TempDir()
	component(t, dir, "web", "network:\n  listen:\n    - port: 8080/tcp\n      from: [host]", "serveaddr:tcp/8080", "sleep:")
	component(t, dir, "shut", "network:\n  listen:\n    - port: 8081/tcp\n      from: [198.51.100.2]", "serveaddr:tcp/8081", "sleep:")
	stack := testenv.StackName("net-rewrite")
	// check refuses to publish a port whose listen.from does not name host (the lone
	// run below allows one that names an outside client): shut's is unpublished.
	publish := "publish: [\"0.0.0.0:8080 -> web:8080/tcp\"]\n"
	w.upStack(dir, stack, "10.84.0.0/24", []string{"web", "shut"}, publish)
	ids := rewriteLinks(t, filepath.Join(dir, "audit.log"))
	gw, peer := w.gateway(), uplinkPeer(t, w)
	checkRewritten(t, w, "127.0.0.1:8080", gw, "10.84.0.1")
	checkBoundProxied(t, w, "127.0.0.1:8080", "10.84.0.1")
	for _, a := range []string{"127.0.0.1:8081", peer + ":8081", "10.84.0.3:8081", "10.84.0.2:8080"} {
		if d, err := dialIn(w.host, a); err == nil {
			t.Errorf("%s answered the host %+v: only the published port may", a, d)
		}
	}
	checkOtherNamespace(t, w, "127.0.0.1:8080")
	// web stopped: the host's client is refused, and the supervisor says so.
	w.confine("stop", "--grace", "1s", stack, "web")
	if d, err := dialIn(w.host, "127.0.0.1:8080"); err == nil {
		t.Errorf("127.0.0.1:8080 answered with web stopped: %+v", d)
	}
	if r := waitFailed(t, filepath.Join(dir, "audit.log"), "127.0.0.1:8080"); r.Component != "web" || r.Details["target"] != peer+":8080" {
		t.Errorf("publish.failed: %s %v", r.Component, r.Details)
	}
	w.confine("down", "--grace", "1s", stack)
	linksGone(t, ids, "after down")
	if d, err := dialIn(w.host, "127.0.0.1:8080"); err == nil {
		t.Errorf("127.0.0.1:8080 answered after down: %+v", d)
	}

	w.upStack(dir, stack, "10.84.0.0/24", []string{"web", "shut"}, publish)
	ids = rewriteLinks(t, filepath.Join(dir, "audit.log"))
	sup, alive := supervisor.Running(stack)
	if !alive {
		t.Fatal("no supervisor")
	}
	syscall.Kill(sup, syscall.SIGKILL)
	for i := 0; !testenv.Exited(sup); i++ {
		if i == 200 {
			t.Fatal("the supervisor outlived SIGKILL")
		}
		time.Sleep(10 * time.Millisecond)
	}
	linksGone(t, ids, "after SIGKILL")
	if d, err := dialIn(w.host, "127.0.0.1:8080"); err == nil {
		t.Errorf("127.0.0.1:8080 answered after SIGKILL: %+v", d)
	}
	w.confine("down", stack)
}

// TestLoneRewrite: the same for a lone run's -p on 0.0.0.0: the rewrite goes straight
// to the component, which sees the gateway (`host`); -p of a port whose listen.from
// names no host is refused by the component's table (a denial) and reported
// (publish.failed). With CONFINE_LOOPBACK_PROXY=1 the proxy serves instead.
func TestLoneRewrite(t *testing.T) {
	w := newWorld(t)
	w.serve(w.outside, "tcp", "127.0.0.1:8090")
	dir := t.TempDir()
	component(t, dir, "lone", "network:\n  listen:\n    - port: 8080/tcp\n      from: [host]\n    - port: 8081/tcp\n      from: [198.51.100.2]",
		"serveaddr:tcp/8080", "serveaddr:tcp/8081", "dial:tcp/127.0.0.1:1", "sleep:")
	file, log := filepath.Join(dir, "lone.yaml"), filepath.Join(dir, "audit.log")
	run := w.runLone("-p", "8090:8080", "-p", "8091:8081", "--audit-log", log, file)
	run.results(t, "dial:tcp/127.0.0.1:1")
	ids := rewriteLinks(t, log)
	gw := w.gateway()
	checkRewritten(t, w, "127.0.0.1:8090", gw, gw)
	checkBoundProxied(t, w, "127.0.0.1:8090", gw)
	if d, err := dialIn(w.host, "127.0.0.1:8091"); err == nil {
		t.Errorf("127.0.0.1:8091 answered %+v: the port's listen.from does not name host", d)
	}
	waitFailed(t, log, "127.0.0.1:8091")
	waitDenials(t, log, map[string]func(audit.Record) bool{
		"the host to 8081, which does not name it": func(r audit.Record) bool {
			return r.Details["dport"] == float64(8081) && r.Details["src"] == gw
		},
	})
	checkOtherNamespace(t, w, "127.0.0.1:8090")
	run.cmd.Process.Signal(syscall.SIGTERM)
	run.cmd.Wait()
	linksGone(t, ids, "after the run")

	log = filepath.Join(dir, "audit2.log")
	run = w.runLone("-p", "8090:8080", "--audit-log", log, file)
	run.results(t, "dial:tcp/127.0.0.1:1")
	ids = rewriteLinks(t, log)
	run.cmd.Process.Kill()
	run.cmd.Wait()
	linksGone(t, ids, "after SIGKILL")
	if d, err := dialIn(w.host, "127.0.0.1:8090"); err == nil {
		t.Errorf("127.0.0.1:8090 answered after SIGKILL: %+v", d)
	}
	w.confine("version") // sweeps what the run left

	// The proxy, chosen: the same client reaches the component over loopback.
	w.env = append(w.env, supervisor.LoopbackProxyEnv+"=1")
	run = w.runLone("-p", "8090:8080", file)
	run.results(t, "dial:tcp/127.0.0.1:1")
	d, err := dialIn(w.host, "127.0.0.1:8090")
	if err != nil || !strings.HasPrefix(d.answer, "you are "+w.gateway()+":") || !strings.HasPrefix(d.local, "127.0.0.1:") {
		t.Errorf("127.0.0.1:8090 through the proxy: %+v (%v)", d, err)
	}
	run.cmd.Process.Signal(syscall.SIGTERM)
	run.cmd.Wait()
}
