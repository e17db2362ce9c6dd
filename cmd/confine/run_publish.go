//go:build !confine_slim

package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/supervisor"
)

// maxRunForwards bounds the connections a lone run's loopback proxy carries at once.
const maxRunForwards = 1024

// proxy serves what the kernel does not publish: tcp on a loopback address, and the
// loopback of 0.0.0.0 (never route_localnet: CVE-2020-8558). The host's own namespace
// routes to the component through the uplink, so the proxy dials from here, and the
// component sees the gateway: `host`. The loopback of 0.0.0.0 is rewritten at
// connect() to the component itself where the kernel takes the program; the proxy's
// listener stays, to reserve the port and serve where it does not.
func (ln *loneNet) proxy() error {
	for _, pub := range ln.n.Published {
		a, _ := netip.ParseAddr(pub.HostAddress)
		listen := pub.HostAddress
		switch {
		case a.IsUnspecified() && pub.Proto == "tcp":
			listen = "127.0.0.1"
		case !a.IsLoopback():
			continue
		}
		l, err := net.Listen("tcp4", net.JoinHostPort(listen, strconv.Itoa(int(pub.HostPort))))
		if err != nil {
			return fmt.Errorf("publish %s:%d: %w", listen, pub.HostPort, err)
		}
		ln.listeners = append(ln.listeners, l)
		go ln.forward(l.(*net.TCPListener), pub)
	}
	// Once the listeners hold the ports: a run that cannot take one rewrites nothing.
	ln.rewrite = supervisor.AttachRewrite(ln.n, ln.u, func(msg string) {
		fmt.Fprintf(ln.stderr, "confine: warning: %s\n", msg)
	}, func(kind, _ string, d map[string]any) {
		if kind == supervisor.EventPublishFailed {
			fmt.Fprintf(ln.stderr, "confine: publish %s: %s could not reach %s: %s\n", d["host"], d["client"], d["target"], d["error"])
		}
		if ln.ra != nil && ln.ra.enabled() {
			ln.ra.emit(kind, d)
		}
	})
	return nil
}

// forward joins each connection accepted on l to the component (supervisor.Relay); a
// connection that cannot reach it is said on stderr and recorded.
func (ln *loneNet) forward(l *net.TCPListener, pub plan.Publish) {
	target := net.JoinHostPort(pub.Address, strconv.Itoa(int(pub.Port)))
	var d net.Dialer
	supervisor.Relay(context.Background(), l, maxRunForwards, func(ctx context.Context) (*net.TCPConn, error) {
		c, err := d.DialContext(ctx, "tcp4", target)
		if err != nil {
			return nil, err
		}
		return c.(*net.TCPConn), nil
	}, func(in *net.TCPConn, err error) {
		fmt.Fprintf(ln.stderr, "confine: publish %s: %s could not reach %s: %v\n", l.Addr(), in.RemoteAddr(), target, err)
		if ln.ra != nil && ln.ra.enabled() {
			ln.ra.emit(supervisor.EventPublishFailed, map[string]any{"host": l.Addr().String(),
				"client": in.RemoteAddr().String(), "target": target, "error": err.Error()})
		}
	})
}
