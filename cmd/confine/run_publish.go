package main

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/supervisor"
)

// maxRunForwards bounds the connections a lone run's loopback proxy carries at once.
const maxRunForwards = 1024

// proxy serves what the kernel does not publish: tcp on a loopback address, and the
// loopback of 0.0.0.0 (never route_localnet: CVE-2020-8558). The host's own namespace
// routes to the component through the uplink, so the proxy dials from here, and the
// component sees the gateway: `host`.
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
	return nil
}

// forward joins each connection accepted on l to the component; the bytes move by
// splice(2) (TCPConn.ReadFrom of another TCPConn), one goroutine per direction.
func (ln *loneNet) forward(l *net.TCPListener, pub plan.Publish) {
	target := net.JoinHostPort(pub.Address, strconv.Itoa(int(pub.Port)))
	slots := make(chan struct{}, maxRunForwards)
	for {
		in, err := l.AcceptTCP()
		if err != nil {
			return
		}
		select {
		case slots <- struct{}{}:
		default:
			in.Close() // full: refuse rather than queue
			continue
		}
		go func() {
			defer func() { <-slots }()
			defer in.Close()
			c, err := net.DialTimeout("tcp4", target, 5*time.Second)
			if err != nil {
				fmt.Fprintf(ln.stderr, "confine: publish %s: %s could not reach %s: %v\n", l.Addr(), in.RemoteAddr(), target, err)
				if ln.ra != nil && ln.ra.enabled() {
					ln.ra.emit(supervisor.EventPublishFailed, map[string]any{"host": l.Addr().String(),
						"client": in.RemoteAddr().String(), "target": target, "error": err.Error()})
				}
				return
			}
			out := c.(*net.TCPConn)
			defer out.Close()
			go func() { out.ReadFrom(in); out.CloseWrite() }()
			in.ReadFrom(out)
		}()
	}
}
