package supervisor

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"time"

	"github.com/confine-sandbox/confine/netfilter"
	"github.com/confine-sandbox/confine/policy/plan"
)

// EventPublishFailed reports a published connection that could not reach its component.
const EventPublishFailed = "publish.failed"

// EventPublishRewrite reports the connect-time rewrite of the host's loopback connections
// to ports published on 0.0.0.0 (netfilter.AttachRewrite): its links and entries, or the
// error that leaves those connections to the proxy.
const EventPublishRewrite = "publish.rewrite"

// maxForwards bounds the connections the loopback proxy carries at once (each holds
// two sockets and, while splicing, two pipes).
const maxForwards = 4096

// publish serves the published ports the kernel does not: those on a loopback address,
// and the loopback of those on 0.0.0.0 (netfilter DNATs the rest, publish_linux.go).
// Each connection is forwarded from inside the stack's namespace, where the bridge
// address is the "host" a listen.from names: the callee's firewall decides, as for any
// other caller. The loopback of a port published on 0.0.0.0 is rewritten at connect()
// instead, where the kernel takes the program (rewrite); the proxy's listener stays bound
// to reserve the port and to serve where it does not.
func (s *Supervisor) publish(warn func(string)) error {
	for _, pub := range s.plan.Network.Published {
		listen, ok := proxyAddress(pub)
		if !ok {
			continue
		}
		if pub.Proto != "tcp" {
			return fmt.Errorf("publish %s:%d/%s: a loopback address can publish tcp only; publish udp on another address (DNAT in the kernel)", pub.HostAddress, pub.HostPort, pub.Proto)
		}
		if s.dialer == nil {
			d, err := netfilter.NewDialer(s.bridge.NSPath)
			if err != nil {
				return fmt.Errorf("publish: %w", err)
			}
			s.dialer = d
		}
		l, err := net.Listen("tcp4", net.JoinHostPort(listen, strconv.Itoa(int(pub.HostPort))))
		if err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		s.listeners = append(s.listeners, l)
		target, err := netip.ParseAddrPort(net.JoinHostPort(pub.Address, strconv.Itoa(int(pub.Port))))
		if err != nil {
			return fmt.Errorf("publish: bug: %w", err)
		}
		go s.forward(l.(*net.TCPListener), pub, target)
	}
	// Once the listeners hold the ports: a stack that cannot take one rewrites nothing.
	s.rewrite = AttachRewrite(s.plan.Network, s.uplink, warn, func(kind, comp string, d map[string]any) { s.events.emit(comp, kind, d) })
	return nil
}

// proxyAddress is where the userspace proxy listens for pub, if anywhere.
func proxyAddress(pub plan.Publish) (string, bool) {
	a, err := netip.ParseAddr(pub.HostAddress)
	switch {
	case err != nil:
		return "", false
	case !pub.Kernel:
		return pub.HostAddress, true
	case a.IsUnspecified() && pub.Proto == "tcp":
		return "127.0.0.1", true // never route_localnet (CVE-2020-8558)
	}
	return "", false
}

// forward accepts on l and joins each connection to target, dialed from the stack's
// namespace; a connection that cannot reach it is an event.
func (s *Supervisor) forward(l *net.TCPListener, pub plan.Publish, target netip.AddrPort) {
	Relay(s.ctx, l, maxForwards, func(ctx context.Context) (*net.TCPConn, error) {
		return s.dialer.DialTCP(ctx, target)
	}, func(in *net.TCPConn, err error) {
		s.events.emit(pub.Component, EventPublishFailed, map[string]any{
			"host":   net.JoinHostPort(l.Addr().(*net.TCPAddr).IP.String(), strconv.Itoa(int(pub.HostPort))),
			"client": in.RemoteAddr().String(), "target": target.String(), "error": err.Error()})
	})
}

// Relay accepts on l until it is closed and joins each connection to the one dial makes
// (given 5 s), at most max at once: a full relay refuses rather than queues. failed hears
// of each connection dial could not make. The bytes move by splice(2): TCPConn.ReadFrom
// of another TCPConn splices through a pipe, in the kernel, one goroutine per direction.
func Relay(ctx context.Context, l *net.TCPListener, max int, dial func(context.Context) (*net.TCPConn, error), failed func(in *net.TCPConn, err error)) {
	slots := make(chan struct{}, max)
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
			dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			out, err := dial(dctx)
			cancel()
			if err != nil {
				failed(in, err)
				return
			}
			defer out.Close()
			go func() { out.ReadFrom(in); out.CloseWrite() }()
			in.ReadFrom(out)
		}()
	}
}

// LoopbackProxyEnv, set to 1 in the environment of up or run, leaves the host's loopback
// connections to published ports to the proxy (bench/egress.sh compares the two).
const LoopbackProxyEnv = "CONFINE_LOOPBACK_PROXY"

// AttachRewrite attaches the rewrite of n's loopback published ports through u (a
// stack's or a lone run's) and reports it to emit (EventPublishRewrite), then each
// rewritten connection that failed (EventPublishFailed, with the component); nil when
// there is none to make or it could not be made, which warn hears: the proxy then
// serves those connections, as before.
func AttachRewrite(n plan.Network, u *netfilter.Uplink, warn func(string), emit func(kind, component string, d map[string]any)) *netfilter.Rewrite {
	entries := netfilter.LoopbackRewrites(n, u)
	if len(entries) == 0 {
		return nil
	}
	var pairs []string
	for _, e := range entries {
		pairs = append(pairs, e.From.String()+" -> "+e.To.String())
	}
	if os.Getenv(LoopbackProxyEnv) == "1" {
		emit(EventPublishRewrite, "", map[string]any{"rewrites": pairs, "chosen": "proxy (" + LoopbackProxyEnv + "=1)"})
		return nil
	}
	r, err := netfilter.AttachRewrite(entries, func(f netfilter.RewriteFailure) {
		emit(EventPublishFailed, publishedTo(n, f.From.Port()), failureDetails(f, u))
	})
	if err != nil {
		msg := "the host's loopback connections to published ports go through the userspace proxy: the connect-time rewrite cannot be attached: " + err.Error()
		if warn != nil {
			warn(msg)
		}
		emit(EventPublishRewrite, "", map[string]any{"rewrites": pairs, "error": err.Error(), "finding": msg})
		return nil
	}
	emit(EventPublishRewrite, "", map[string]any{"rewrites": pairs, "cgroup": r.Root, "links": r.LinkIDs()})
	return r
}

// publishedTo names the component a tcp port published on 0.0.0.0 goes to.
func publishedTo(n plan.Network, hostPort uint16) string {
	for _, p := range n.Published {
		if p.Kernel && p.Proto == "tcp" && p.HostPort == hostPort {
			return p.Component
		}
	}
	return ""
}

// failureDetails are a failed rewritten connection's, in the proxy's words: the kernel
// says only that it closed before it was established, and how often its SYN was sent
// again (none: a reset, the component refused; some: no answer, or the client gave up).
func failureDetails(f netfilter.RewriteFailure, u *netfilter.Uplink) map[string]any {
	why := "refused (reset)"
	if f.Retransmits > 0 {
		why = fmt.Sprintf("no answer after %d SYN retransmissions (dropped, or the client gave up)", f.Retransmits)
	}
	return map[string]any{"host": f.From.String(), "client": netip.AddrPortFrom(u.Gateway, f.LocalPort).String(),
		"target": f.To.String(), "error": "closed before it was established: " + why, "path": "rewrite"}
}
