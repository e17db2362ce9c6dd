package netfilter

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/tests/testenv"
)

// The programs load, attach at the cgroup v2 root and rewrite a connect in the
// namespace they were made for, give getpeername the dialed address, leave the same
// address in another namespace alone, report a rewritten connection that was refused,
// and leave no link once closed.
func TestRewriteConnect(t *testing.T) {
	testenv.Require(t, testenv.Root)
	from := netip.MustParseAddrPort("127.0.0.1:47311")
	to := netip.MustParseAddrPort("127.0.0.2:47312")
	refused := RewriteEntry{From: netip.MustParseAddrPort("127.0.0.1:47314"), To: netip.MustParseAddrPort("127.0.0.2:47315")}
	failures := make(chan RewriteFailure, 8)

	// The test's own namespace: a listener on from, which the rewrite must not divert.
	own, err := net.Listen("tcp4", from.String())
	if err != nil {
		t.Fatal(err)
	}
	defer own.Close()

	done := make(chan struct{})
	var r *Rewrite
	var attachErr error
	go func() { // a thread of its own in a new namespace, thrown away after
		defer close(done)
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			t.Error(err)
			return
		}
		lo, err := netlink.LinkByName("lo")
		if err == nil {
			err = netlink.LinkSetUp(lo)
		}
		if err != nil {
			t.Error(err)
			return
		}
		l, err := net.Listen("tcp4", to.String())
		if err != nil {
			t.Error(err)
			return
		}
		defer l.Close()
		if r, attachErr = AttachRewrite([]RewriteEntry{{From: from, To: to}, refused}, func(f RewriteFailure) { failures <- f }); attachErr != nil {
			return
		}
		c, err := net.Dial("tcp4", from.String())
		if err != nil {
			t.Errorf("dial %s in the rewritten namespace: %v", from, err)
			return
		}
		defer c.Close()
		if got := c.RemoteAddr().String(); got != from.String() {
			t.Errorf("getpeername gave %s, want the dialed %s", got, from)
		}
		s, err := l.Accept()
		if err != nil {
			t.Error(err)
			return
		}
		s.Close()
		// Nothing listens where refused goes: the client sees the refusal, the
		// supervisor a failure.
		if c, err := net.Dial("tcp4", refused.From.String()); !errors.Is(err, unix.ECONNREFUSED) {
			t.Errorf("dial %s, rewritten to where nothing listens: %v, want ECONNREFUSED", refused.From, err)
			if c != nil {
				c.Close()
			}
		}
		// An address that is not in the map is not rewritten.
		if c, err := net.Dial("tcp4", "127.0.0.1:47313"); err == nil {
			c.Close()
			t.Error("127.0.0.1:47313 connected: nothing listens there")
		}
		checkBoundLeft(t, from)
		checkUDPLeft(t, from)
		checkReconnect(t, refused.From, to)
	}()
	<-done
	if attachErr != nil {
		testenv.Missing(t, "the rewrite cannot be attached: %v", attachErr)
	}
	if r == nil {
		return
	}
	defer r.Close() // twice is safe
	if t.Failed() {
		return
	}
	// The test's own namespace, same address: its own listener answers.
	c, err := net.Dial("tcp4", from.String())
	if err != nil {
		t.Fatalf("dial %s in the test's namespace: %v", from, err)
	}
	s, err := own.Accept()
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	c.Close()

	for range 2 { // net.Dial's and checkReconnect's
		select {
		case f := <-failures:
			if f.RewriteEntry != refused || f.Retransmits != 0 || f.LocalPort == 0 {
				t.Errorf("failure %+v, want one of %v, refused at once", f, refused)
			}
		case <-time.After(5 * time.Second):
			t.Error("no failure reported for a refused connection")
		}
	}
	select {
	case f := <-failures:
		t.Errorf("a second failure: %+v", f)
	default:
	}
	// Every rewritten socket has closed: none is remembered any more.
	for i := 0; ; i++ {
		var k uint64
		var v rewriteValue
		it := r.reverse.Iterate()
		if !it.Next(&k, &v) {
			break
		}
		if i == 100 {
			t.Errorf("socket %d still in the reverse map after it closed", k)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	ids := r.LinkIDs()
	if len(ids) != 3 {
		t.Fatalf("link ids %v, want 3", ids)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if l, err := link.NewFromID(link.ID(id)); !errors.Is(err, unix.ENOENT) {
			if l != nil {
				l.Close()
			}
			t.Errorf("link %d after Close: %v", id, err)
		}
	}
}

// checkBoundLeft: a socket bound to an address (127.0.0.1, from which a rewritten
// connection could not leave by the uplink) or to a device (lo), and an IPv6 socket,
// reach the listener on the address they dialed, the proxy's, not the rewrite's target.
func checkBoundLeft(t *testing.T, from netip.AddrPort) {
	proxy, err := net.Listen("tcp4", from.String())
	if err != nil {
		t.Error(err)
		return
	}
	defer proxy.Close()
	toLo := func(_, _ string, rc syscall.RawConn) error {
		var err error
		if cerr := rc.Control(func(fd uintptr) { err = unix.BindToDevice(int(fd), "lo") }); cerr != nil {
			return cerr
		}
		return err
	}
	for name, d := range map[string]net.Dialer{
		"bound to 127.0.0.1": {LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}},
		"bound to lo":        {Control: toLo},
		"an IPv6 socket":     {},
	} {
		network, addr := "tcp4", from.String()
		if name == "an IPv6 socket" { // its v4-mapped address, which connect4 does not see
			network, addr = "tcp6", "[::ffff:"+from.Addr().String()+"]:"+strconv.Itoa(int(from.Port()))
		}
		c, err := dialAs(d, network, addr)
		if err != nil {
			t.Errorf("dial %s %s: %v", from, name, err)
			continue
		}
		// Connected: the connection waits in the accept queue of the listener it reached.
		proxy.(*net.TCPListener).SetDeadline(time.Now().Add(5 * time.Second))
		s, err := proxy.Accept()
		if err != nil {
			t.Errorf("dial %s %s: rewritten, not left to the listener on %s (%v)", from, name, from, err)
		} else {
			s.Close()
		}
		c.Close()
	}
}

// checkReconnect: a socket whose rewritten connect to refused failed, connected again
// to to (not rewritten), has to for its peer, not the address it dialed first.
func checkReconnect(t *testing.T, refused, to netip.AddrPort) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Error(err)
		return
	}
	defer unix.Close(fd)
	sa := func(a netip.AddrPort) *unix.SockaddrInet4 {
		return &unix.SockaddrInet4{Addr: a.Addr().As4(), Port: int(a.Port())}
	}
	if err := unix.Connect(fd, sa(refused)); !errors.Is(err, unix.ECONNREFUSED) {
		t.Errorf("connect %s: %v, want ECONNREFUSED", refused, err)
		return
	}
	if err := unix.Connect(fd, sa(to)); err != nil {
		t.Errorf("connect %s again, to %s: %v", refused, to, err)
		return
	}
	peer, err := unix.Getpeername(fd)
	if p, ok := peer.(*unix.SockaddrInet4); err != nil || !ok || netip.AddrPortFrom(netip.AddrFrom4(p.Addr), uint16(p.Port)) != to {
		t.Errorf("getpeername of a socket refused at %s, then connected to %s: %+v (%v)", refused, to, peer, err)
	}
}

// dialAs dials with d, from an AF_INET6 socket when network is tcp6 (net.Dial would
// take a v4-mapped address for IPv4's).
func dialAs(d net.Dialer, network, addr string) (net.Conn, error) {
	if network != "tcp6" {
		return d.Dial(network, addr)
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if err := unix.Connect(fd, &unix.SockaddrInet6{Addr: ap.Addr().As16(), Port: int(ap.Port())}); err != nil {
		unix.Close(fd)
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "tcp6")
	defer f.Close()
	return net.FileConn(f)
}

// checkUDPLeft: a UDP socket connected to from is not rewritten: its datagram reaches
// from's UDP listener.
func checkUDPLeft(t *testing.T, from netip.AddrPort) {
	pc, err := net.ListenPacket("udp4", from.String())
	if err != nil {
		t.Error(err)
		return
	}
	defer pc.Close()
	c, err := net.Dial("udp4", from.String())
	if err != nil {
		t.Error(err)
		return
	}
	defer c.Close()
	if _, err := c.Write([]byte("x")); err != nil {
		t.Error(err)
		return
	}
	pc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := pc.ReadFrom(make([]byte, 1)); err != nil {
		t.Errorf("a UDP datagram to %s: rewritten? (%v)", from, err)
	}
}
