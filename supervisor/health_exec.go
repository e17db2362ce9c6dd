package supervisor

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"time"

	"github.com/confine-sandbox/confine/netfilter"
	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/sandbox"
)

// probe runs one health check of the component running in sb.
func (c *component) probe(h *plan.HealthCheck, sb *sandbox.Sandbox, timeout time.Duration) error {
	if len(h.Exec) > 0 {
		return c.execCheck(h, sb, timeout)
	}
	from, addr, where := c.healthDial(h, sb.NetNS())
	conn, err := netfilter.DialFrom(from, "tcp4", addr, timeout)
	if err != nil {
		return fmt.Errorf("tcp %s %s: %w", addr, where, err)
	}
	conn.Close()
	return nil
}

// healthDial is where a TCP check dials from, and to. In a stack it dials from the
// stack's namespace, with the bridge address, to the component's address: the packets
// cross the component's firewall as a caller's do, admitted by the flow the Plan holds for
// the check (policy.compileHealthFlows: the bridge address, this port only), so healthy
// means reachable, and a listener bound to 127.0.0.1 never is. A component run on its own
// has no bridge and no caller that could reach it, and its check dials 127.0.0.1 inside.
func (c *component) healthDial(h *plan.HealthCheck, nsPath string) (from, addr, where string) {
	port := strconv.Itoa(int(h.Port))
	if c.sup.bridge != nil && c.plan.Net.Address != "" {
		return c.sup.bridge.NSPath, net.JoinHostPort(c.plan.Net.Address, port), "from the bridge " + c.sup.plan.Network.BridgeAddress
	}
	return nsPath, net.JoinHostPort("127.0.0.1", port), "over the component's loopback"
}

// execCheck runs health.exec inside the running component, as confine exec does
// (sandbox.Exec, docs/exec.md): in its namespaces and cgroup, as its user, under a
// Landlock domain and seccomp filter built from its Plan. It sees what the component
// sees (its tmpfs, its loopback and firewall) and counts against its limits. It is the
// policy's own check, so run.exec: false does not refuse it and no exec is recorded.
// Exit status 0 within the timeout is healthy; the check is killed at the timeout.
func (c *component) execCheck(h *plan.HealthCheck, sb *sandbox.Sandbox, timeout time.Duration) error {
	c.mu.Lock()
	paused := c.status.State == StatePaused
	c.mu.Unlock()
	if paused {
		// In the frozen cgroup the check would freeze too, past its timeout.
		return fmt.Errorf("health.exec: %s is paused", c.plan.Name)
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer null.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		// The exec stage's parent-death signal follows this thread.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		e, err := sb.Exec(c.plan, sandbox.ExecOptions{Args: h.Exec, Stdin: null, Stdout: null, Stderr: null, Skip: c.sup.skip, Observe: c.observer()})
		if err != nil {
			done <- result{err: err}
			return
		}
		stop := context.AfterFunc(ctx, e.Kill)
		code, err := e.Wait()
		stop()
		done <- result{code, err}
	}()
	r := <-done
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("health.exec did not finish within %s", timeout)
	case r.err != nil:
		return r.err
	case r.code != 0:
		return fmt.Errorf("health.exec exited with status %d", r.code)
	}
	return nil
}
