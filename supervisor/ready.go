package supervisor

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/confine-sandbox/confine/netfilter"
	"github.com/confine-sandbox/confine/policy/plan"
)

// readyPoll is how often readiness is tried again while a component is still starting.
const readyPoll = 50 * time.Millisecond

// waitReady returns once the started stack can be used: every component with a health
// check is healthy (what others depend on already was before they started; the rest,
// nothing waited for), and every published port reaches its component, so that the
// first connection after `up` returns is forwarded instead of accepted and closed.
func (s *Supervisor) waitReady(ctx context.Context) error {
	for _, c := range s.comps {
		if c.plan.Supervise.Health == nil {
			continue
		}
		if err := c.waitHealthy(ctx); err != nil {
			return err
		}
	}
	for _, pub := range s.plan.Network.Published {
		if s.bridge == nil {
			break // a single component, which publishes nothing
		}
		if pub.Proto != "tcp" {
			continue // nothing to connect to: a udp port is ready when its component runs
		}
		if err := s.waitForwards(ctx, pub); err != nil {
			return err
		}
	}
	return nil
}

// waitForwards connects to a published port's target as the forwarder does, from the
// stack's namespace through the callee's firewall, until the component accepts.
func (s *Supervisor) waitForwards(ctx context.Context, pub plan.Publish) error {
	target := net.JoinHostPort(pub.Address, strconv.Itoa(int(pub.Port)))
	for {
		timeout := time.Second
		if d, ok := ctx.Deadline(); ok {
			timeout = min(timeout, time.Until(d))
		}
		conn, err := netfilter.DialFrom(s.bridge.NSPath, "tcp4", target, max(timeout, time.Millisecond))
		if err == nil {
			conn.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("published %s:%d does not reach %s yet: %v", pub.HostAddress, pub.HostPort, target, err)
		case <-time.After(readyPoll):
		}
	}
}
