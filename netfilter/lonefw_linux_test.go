package netfilter

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"

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

// The source check matches anything not IPv4, and IPv4 from any source but the peer,
// each on the link only.
func TestSpoofMatch(t *testing.T) {
	peer := netip.MustParseAddr("100.127.0.2")
	rules := spoofMatch(matchIf(expr.MetaKeyIIFNAME, "cfu3"), peer)
	if len(rules) != 2 {
		t.Fatalf("%d rules, want 2", len(rules))
	}
	for i, r := range rules {
		if c, ok := r[1].(*expr.Cmp); !ok || !bytes.Equal(c.Data, ifname("cfu3")) {
			t.Errorf("rule %d does not match the link first: %#v", i, r[1])
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

// A logged drop is two rules: the limited log and drop, then the drop of the rest,
// counted and named by its comment; both match the same packets.
func TestDropLoggedRules(t *testing.T) {
	match := matchIf(expr.MetaKeyIIFNAME, "cfu3")
	first := logDrop(7, "confine-drop from-run: ")
	if l, ok := first[0].(*expr.Limit); !ok || l.Rate != LogRate || l.Burst != LogBurst {
		t.Errorf("the log rule starts with %#v, want the limit", first[0])
	}
	if v, ok := first[len(first)-1].(*expr.Verdict); !ok || v.Kind != expr.VerdictDrop {
		t.Errorf("the log rule ends in %#v, want drop", first[len(first)-1])
	}
	r := suppressedRule(nil, nil, "from-run", match)
	if v, ok := r.Exprs[len(r.Exprs)-1].(*expr.Verdict); !ok || v.Kind != expr.VerdictDrop {
		t.Errorf("the counting rule ends in %#v, want drop", r.Exprs[len(r.Exprs)-1])
	}
	if _, ok := r.Exprs[len(match)].(*expr.Counter); !ok {
		t.Errorf("the counting rule counts with %#v", r.Exprs[len(match)])
	}
	if c, _ := userdata.GetString(r.UserData, userdata.TypeComment); c != "confine-suppressed from-run" {
		t.Errorf("comment %q", c)
	}
}

// The seen rule looks its key up inverted, then adds it, then logs and drops: a key
// already in the set (or a full set) goes on to the limited log rule.
func TestSeenRuleOrder(t *testing.T) {
	seen := &nftables.Set{Name: "seen_from_run"}
	r := seenRule(seen, matchIf(expr.MetaKeyIIFNAME, "cfu3"), 7, "confine-drop from-run: ")
	var order []string
	for _, e := range r {
		switch e := e.(type) {
		case *expr.Lookup:
			if !e.Invert || e.SetName != seen.Name {
				t.Errorf("lookup %#v, want an inverted one of %s", e, seen.Name)
			}
			order = append(order, "lookup")
		case *expr.Dynset:
			if e.Operation != unix.NFT_DYNSET_OP_ADD || e.SetName != seen.Name {
				t.Errorf("dynset %#v, want an add to %s", e, seen.Name)
			}
			order = append(order, "add")
		case *expr.Log:
			order = append(order, "log")
		case *expr.Verdict:
			if e.Kind == expr.VerdictDrop {
				order = append(order, "drop")
			}
		}
	}
	if got := strings.Join(order, " "); got != "lookup add log drop" {
		t.Errorf("seen rule does %q", got)
	}
}
