package netfilter

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// dropFirewall drops and logs to group 7 everything entering on any interface, lo
// included, except TCP to 127.0.0.1:8080.
var dropFirewall = plan.Firewall{
	Family: "inet", Table: "confine", LogGroup: 7,
	Chains: []plan.Chain{{Name: "ingress", Hook: "input", FlowsSet: "ingress"}},
	Flows:  []plan.Flow{{Set: "ingress", Src: "127.0.0.1/32", Dst: "127.0.0.1/32", Proto: "tcp", First: 8080, Last: 8080}},
}

// newNetNS starts a goroutine locked to an OS thread that it moves into a new network
// namespace with lo up, and returns the namespace's path and a function that runs fn on
// that thread. The thread is never unlocked: it exits with the goroutine at cleanup, so
// no other goroutine ever runs in the namespace and the host's is never touched. fn
// returns its error instead of calling t.Fatal, which must run on the test's goroutine.
func newNetNS(t *testing.T) (string, func(fn func() error) error) {
	t.Helper()
	calls, ready := make(chan func()), make(chan error)
	var path string
	go func() {
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			ready <- fmt.Errorf("unshare: %w", err)
			return
		}
		path = fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid())
		ready <- loopbackUp()
		for fn := range calls {
			fn()
		}
	}()
	if err := <-ready; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { close(calls) })
	return path, func(fn func() error) error {
		done := make(chan error)
		calls <- func() { done <- fn() }
		return <-done
	}
}

// loopbackUp sets lo up in the calling thread's namespace, by ioctl: no dependency on
// netfilter's own link code or on the ip tool.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}

// listen subscribes to group 7 in the namespace and closes the reader when the test ends,
// or after 10 s so that a missing record fails the test instead of hanging it.
func listen(t *testing.T, ns string) *LogReader {
	t.Helper()
	r, err := ListenLog(ns, 7)
	if err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(10*time.Second, func() { r.Close() })
	t.Cleanup(func() { timer.Stop(); r.Close() })
	return r
}

func TestListenLog(t *testing.T) {
	testenv.Require(t, testenv.Root)
	ns, inNS := newNetNS(t)
	if err := Apply(ns, dropFirewall); err != nil {
		t.Fatal(err)
	}
	r := listen(t, ns)
	err := inNS(func() error {
		// The declared flow connects and is not logged; its SYN would be the first record.
		ln, err := net.Listen("tcp", "127.0.0.1:8080")
		if err != nil {
			return err
		}
		defer ln.Close()
		c, err := net.DialTimeout("tcp", "127.0.0.1:8080", 2*time.Second)
		if err != nil {
			return fmt.Errorf("declared flow: %w", err)
		}
		c.Close()
		u, err := net.Dial("udp", "127.0.0.1:9999")
		if err != nil {
			return err
		}
		defer u.Close()
		if _, err := u.Write([]byte("x")); err != nil {
			return err
		}
		// Under the 1 s SYN retransmission: one SYN, one record.
		if c, err := net.DialTimeout("tcp", "127.0.0.1:9998", 300*time.Millisecond); err == nil {
			c.Close()
			return errors.New("connect to a dropped port succeeded")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	lo := netip.MustParseAddr("127.0.0.1")
	for _, want := range []struct {
		proto string
		port  uint16
	}{{"udp", 9999}, {"tcp", 9998}} {
		rec, err := r.Next()
		if err != nil {
			t.Fatalf("waiting for the %s drop: %v", want.proto, err)
		}
		if rec.Prefix != "confine-drop ingress: " || rec.Group != 7 || rec.Proto != want.proto ||
			rec.Src != lo || rec.Dst != lo || rec.DstPort != want.port || rec.SrcPort == 0 ||
			rec.InDev != 1 || rec.Lost != 0 || time.Since(rec.Time).Abs() > time.Minute {
			t.Errorf("got %+v, want a %s drop to 127.0.0.1:%d on lo", rec, want.proto, want.port)
		}
	}
	// Close unblocks a waiting Next, and Next stays closed.
	errs := make(chan error)
	go func() { _, err := r.Next(); errs <- err }()
	time.Sleep(50 * time.Millisecond)
	r.Close()
	if err := <-errs; !errors.Is(err, net.ErrClosed) {
		t.Errorf("Next during Close: %v, want net.ErrClosed", err)
	}
	if _, err := r.Next(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Next after Close: %v, want net.ErrClosed", err)
	}
}

// TestListenLogBusy: a namespace's group has one reader; the kernel refuses a second
// with EPERM (nfulnl_recv_config: the instance belongs to another portid). The second
// one listens through the "" path, from a thread inside the namespace.
func TestListenLogBusy(t *testing.T) {
	testenv.Require(t, testenv.Root)
	ns, inNS := newNetNS(t)
	listen(t, ns)
	err := inNS(func() error {
		r, err := ListenLog("", 7)
		if err == nil {
			r.Close()
		}
		return err
	})
	if !errors.Is(err, unix.EPERM) {
		t.Errorf("second reader: %v, want EPERM", err)
	}
}

// TestListenLogCountsLost floods a reader whose buffer holds a few records: every drop
// the rate limit let through to the log is either delivered or counted in Lost, and
// every other one is counted as Suppressed, by Close's last count.
func TestListenLogCountsLost(t *testing.T) {
	testenv.Require(t, testenv.Root)
	const sent = 1000
	ns, inNS := newNetNS(t)
	if err := Apply(ns, dropFirewall); err != nil {
		t.Fatal(err)
	}
	r := listen(t, ns)
	if err := r.conn.SetReadBuffer(8 << 10); err != nil {
		t.Fatal(err)
	}
	if err := r.CountSuppressed(dropFirewall.Table); err != nil {
		t.Fatal(err)
	}
	err := inNS(func() error {
		u, err := net.Dial("udp", "127.0.0.1:9999")
		if err != nil {
			return err
		}
		defer u.Close()
		for range sent {
			if _, err := u.Write([]byte("x")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	logged := loggedDrops(t, ns)
	if logged < LogBurst || logged >= sent/2 {
		t.Fatalf("the log rule let %d of %d through, want about %d (the limit's burst)", logged, sent, LogBurst)
	}
	var got, lost, suppressed uint64
	for got+lost < logged {
		rec, err := r.Next()
		if err != nil {
			t.Fatalf("after %d records and %d lost of %d: %v", got, lost, logged, err)
		}
		if rec.Suppressed > 0 {
			suppressed += rec.Suppressed
			continue
		}
		got, lost = got+1, lost+rec.Lost
	}
	if got+lost != logged || lost == 0 {
		t.Errorf("%d records and %d lost, want %d in all with some lost", got, lost, logged)
	}
	r.Close()
	for {
		rec, err := r.Next()
		if err != nil {
			break
		}
		suppressed += rec.Suppressed
	}
	if suppressed != sent-logged {
		t.Errorf("%d suppressed, want %d (%d sent, %d logged)", suppressed, sent-logged, sent, logged)
	}
	t.Logf("%d records delivered, %d counted as lost, %d suppressed", got, lost, suppressed)
}

// loggedDrops is the counters of the ingress chain's logging rules (the seen rule's
// and the limited one's) together.
func loggedDrops(t *testing.T, ns string) uint64 {
	t.Helper()
	conn, closeNS, err := connect(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer closeNS()
	table := &nftables.Table{Family: nftables.TableFamilyINet, Name: dropFirewall.Table}
	rules, err := conn.GetRules(table, &nftables.Chain{Table: table, Name: "ingress"})
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	var found bool
	for _, rl := range rules {
		for _, e := range rl.Exprs {
			if _, ok := e.(*expr.Log); ok {
				n, found = n+packets(rl), true
			}
		}
	}
	if !found {
		t.Fatal("no logging rule in the ingress chain")
	}
	return n
}
