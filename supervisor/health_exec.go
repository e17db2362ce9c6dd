package supervisor

import (
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"strconv"
	"time"

	"github.com/confine-sandbox/confine/netfilter"
	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/sandbox"
)

// probe runs one health check of the component whose network namespace is nsPath.
func (c *component) probe(h *plan.HealthCheck, nsPath string, timeout time.Duration) error {
	if len(h.Exec) > 0 {
		return c.execCheck(h, nsPath, timeout)
	}
	from, addr, where := c.healthDial(h, nsPath)
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

// execCheck runs health.exec as the component: a second sandbox of the same Plan (its
// id range, mounts, Landlock rules, seccomp filter, capabilities and limits, in a
// cgroup of its own) that joins the component's network namespace instead of making
// one, so it sees the component's loopback and firewall. Mount, pid and user
// namespaces are its own: joining the component's from Go is not possible (DESIGN.md),
// so a tmpfs path is a fresh one, and write paths are the same host directories. Exit
// status 0 within the timeout is healthy; the check is killed at the timeout.
func (c *component) execCheck(h *plan.HealthCheck, nsPath string, timeout time.Duration) error {
	pc := *c.plan
	pc.Process.Args = h.Exec
	pc.Supervise = plan.Supervise{}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		// The namespace switch and the parent-death signal need this thread; it is
		// never unlocked, so it ends with the goroutine.
		runtime.LockOSThread()
		sb, err := sandbox.Launch(ctx, &pc, sandbox.Options{
			Stdout: io.Discard, Stderr: io.Discard, Hosts: hostsFile(c.plan),
			CgroupName: c.sup.plan.Name + "." + c.plan.Name + "-health", Stack: c.sup.plan.Name,
			JoinNetNS: nsPath,
		}, c.sup.skip)
		if err != nil {
			done <- result{err: err}
			return
		}
		code, err := sb.Wait()
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
