package netfilter

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/google/nftables/expr"

	"github.com/confine-sandbox/confine/policy/plan"
)

// The host's copy of a lone run's egress: every element is from the run's address
// only, whatever source the component's own flow names, over the flow's whole range,
// destination first.
func TestLoneElementsFromPeerOnly(t *testing.T) {
	peer := netip.MustParseAddr("100.127.0.2")
	elems, err := loneElements([]plan.Flow{{Set: "egress", Src: "0.0.0.0/0", Dst: "203.0.113.32/28", Proto: "tcp", First: 80, Last: 81}}, peer)
	if err != nil || len(elems) != 1 {
		t.Fatalf("%v, %v", elems, err)
	}
	e := elems[0]
	if want := key(netip.MustParseAddr("203.0.113.32"), peer, 6, 80); !bytes.Equal(e.Key, want) {
		t.Errorf("key %x, want %x", e.Key, want)
	}
	if want := key(netip.MustParseAddr("203.0.113.47"), peer, 6, 81); !bytes.Equal(e.KeyEnd, want) {
		t.Errorf("key end %x, want %x", e.KeyEnd, want)
	}
	if _, err := loneElements([]plan.Flow{{Dst: "nonsense"}}, peer); err == nil {
		t.Error("a bad destination was taken")
	}
}

// The source check drops anything not IPv4, and IPv4 from any source but the peer,
// each logged and dropped.
func TestSpoofDropRules(t *testing.T) {
	peer := netip.MustParseAddr("100.127.0.2")
	rules := spoofDrop(matchIf(expr.MetaKeyIIFNAME, "cfu3"), peer, 7)
	if len(rules) != 2 {
		t.Fatalf("%d rules, want 2", len(rules))
	}
	for i, r := range rules {
		if v, ok := r[len(r)-1].(*expr.Verdict); !ok || v.Kind != expr.VerdictDrop {
			t.Errorf("rule %d ends in %#v, want drop", i, r[len(r)-1])
		}
		if l, ok := r[len(r)-2].(*expr.Log); !ok || l.Group != 7 || string(l.Data) != "confine-drop spoofed: " {
			t.Errorf("rule %d logs %#v", i, r[len(r)-2])
		}
	}
	var sawSrc bool
	for _, e := range rules[1] {
		if c, ok := e.(*expr.Cmp); ok && c.Op == expr.CmpOpNeq && bytes.Equal(c.Data, peer.AsSlice()) {
			sawSrc = true
		}
	}
	if !sawSrc {
		t.Error("the second rule does not compare the source with the peer")
	}
}
