package netfilter

import (
	"fmt"
	"net"
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
