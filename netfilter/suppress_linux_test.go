package netfilter

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/tests/testenv"
)

// TestSuppressedSameChainTwice: a chain with two counting rules under one name (a lone
// run's spoofed drops: one for IPv4 from another source, one for anything not IPv4)
// reports, at each read, what the two gained together since the last, not what one
// rule's counter holds against the other's.
func TestSuppressedSameChainTwice(t *testing.T) {
	testenv.Require(t, testenv.Root)
	ns, inNS := newNetNS(t)
	conn, closeNS, err := connect(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer closeNS()
	table := conn.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: "twice"})
	accept := nftables.ChainPolicyAccept
	out := conn.AddChain(&nftables.Chain{Table: table, Name: "out", Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityFilter, Policy: &accept})
	port := func(p uint16) []expr.Any {
		return []expr.Any{
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_UDP}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{byte(p >> 8), byte(p)}},
		}
	}
	conn.AddRule(suppressedRule(table, out, "spoofed", port(1001)))
	conn.AddRule(suppressedRule(table, out, "spoofed", port(1002)))
	if err := conn.Flush(); err != nil {
		t.Fatal(err)
	}
	r := listen(t, ns)
	if err := r.CountSuppressed("twice"); err != nil {
		t.Fatal(err)
	}
	send := func(p, n int) {
		t.Helper()
		err := inNS(func() error {
			u, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				return err
			}
			defer u.Close()
			for range n {
				u.Write([]byte("x")) // dropped: an error or nothing
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	got := func() uint64 {
		var n uint64
		for _, rec := range r.watch.gained() {
			if rec.Prefix != DropPrefix+"spoofed: " {
				t.Errorf("record for %q", rec.Prefix)
			}
			n += rec.Suppressed
		}
		return n
	}
	for i, step := range []struct{ p1001, p1002 int }{{0, 5}, {0, 3}, {2, 0}, {4, 6}, {0, 0}} {
		send(1001, step.p1001)
		send(1002, step.p1002)
		if n, want := got(), uint64(step.p1001+step.p1002); n != want {
			t.Errorf("read %d: %d suppressed, want %d", i, n, want)
		}
	}
}

// TestSuppressedTail: the drops past the limit at the end of a flood are reported once
// the counters are due, with no record after them and before Close: a supervisor
// killed later has written them.
func TestSuppressedTail(t *testing.T) {
	testenv.Require(t, testenv.Root)
	const sent = 200
	ns, inNS := newNetNS(t)
	if err := Apply(ns, dropFirewall); err != nil {
		t.Fatal(err)
	}
	r, err := ListenLog(ns, 7)
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	timer := time.AfterFunc(4*suppressedEvery, func() { close(closed); r.Close() })
	t.Cleanup(func() {
		if timer.Stop() {
			r.Close()
		}
	})
	if err := r.CountSuppressed(dropFirewall.Table); err != nil {
		t.Fatal(err)
	}
	err = inNS(func() error {
		u, err := net.Dial("udp", "127.0.0.1:9999")
		if err != nil {
			return err
		}
		defer u.Close()
		for range sent {
			u.Write([]byte("x"))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var logged, suppressed uint64
	for logged+suppressed < sent {
		rec, err := r.Next()
		if err != nil {
			t.Fatalf("after %d logged and %d suppressed of %d: %v", logged, suppressed, sent, err)
		}
		select {
		case <-closed:
			t.Fatalf("the count of %d came only with Close", rec.Suppressed)
		default:
		}
		if rec.Suppressed > 0 {
			suppressed += rec.Suppressed
		} else {
			logged += 1 + rec.Lost
		}
	}
	if logged < LogBurst || suppressed == 0 {
		t.Errorf("%d logged, %d suppressed of %d", logged, suppressed, sent)
	}
}

// sendUDP sends n datagrams to each of addrs from inside the namespace, a socket each
// (the firewall drops them all).
func sendUDP(t *testing.T, inNS func(func() error) error, n int, addrs ...string) {
	t.Helper()
	err := inNS(func() error {
		for _, a := range addrs {
			u, err := net.Dial("udp", a)
			if err != nil {
				return err
			}
			for range n {
				u.Write([]byte("x"))
			}
			u.Close()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestSeenNamesEachKey: a flood to one port uses up the log limit, yet the first
// datagram to each other key during it (another port, another address) is logged, and
// the flood's own key once more only by the limit; the rest are counted suppressed.
func TestSeenNamesEachKey(t *testing.T) {
	testenv.Require(t, testenv.Root)
	const flood = 300
	ns, inNS := newNetNS(t)
	if err := Apply(ns, dropFirewall); err != nil {
		t.Fatal(err)
	}
	r := listen(t, ns)
	if err := r.CountSuppressed(dropFirewall.Table); err != nil {
		t.Fatal(err)
	}
	sendUDP(t, inNS, flood, "127.0.0.1:9999")
	sendUDP(t, inNS, 2, "127.0.0.1:9998", "127.0.0.2:53")
	sendUDP(t, inNS, flood, "127.0.0.1:9999")
	want := []string{"127.0.0.1:9999", "127.0.0.1:9998", "127.0.0.2:53"}
	seen := map[string]int{}
	var suppressed uint64
	for !allSeen(seen, want) {
		rec, err := r.Next()
		if err != nil {
			t.Fatalf("denials per destination %v: %v", seen, err)
		}
		suppressed += rec.Suppressed
		if rec.Suppressed == 0 {
			seen[netip.AddrPortFrom(rec.Dst, rec.DstPort).String()]++
		}
	}
	r.Close()
	for {
		rec, err := r.Next()
		if err != nil {
			break
		}
		suppressed += rec.Suppressed
	}
	logged := loggedDrops(t, ns)
	if sent := uint64(2*flood + 4); logged+suppressed != sent || suppressed == 0 || logged >= sent/2 {
		t.Errorf("%d logged and %d suppressed, want %d in all, most suppressed", logged, suppressed, sent)
	}
	t.Logf("denials per destination %v; %d logged, %d suppressed", seen, logged, suppressed)
}

func allSeen(seen map[string]int, want []string) bool {
	for _, a := range want {
		if seen[a] == 0 {
			return false
		}
	}
	return true
}

// TestSeenBounded: a flood to more distinct keys than the seen set holds fills it to
// SeenSize and no further; the keys past it meet the limit, and all are dropped.
func TestSeenBounded(t *testing.T) {
	testenv.Require(t, testenv.Root)
	const keys = SeenSize + 500
	ns, inNS := newNetNS(t)
	if err := Apply(ns, dropFirewall); err != nil {
		t.Fatal(err)
	}
	var addrs []string
	for i := range keys {
		addrs = append(addrs, fmt.Sprintf("127.0.0.1:%d", 10000+i))
	}
	sendUDP(t, inNS, 1, addrs...)
	conn, closeNS, err := connect(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer closeNS()
	table := &nftables.Table{Family: nftables.TableFamilyINet, Name: dropFirewall.Table}
	elems, err := conn.GetSetElements(&nftables.Set{Table: table, Name: SeenPrefix + "ingress"})
	if err != nil {
		t.Fatal(err)
	}
	if len(elems) != SeenSize {
		t.Errorf("the seen set holds %d keys after %d, want %d", len(elems), keys, SeenSize)
	}
	if logged := loggedDrops(t, ns); logged < SeenSize || logged > SeenSize+keys-SeenSize {
		t.Errorf("%d logged of %d keys", logged, keys)
	}
}
