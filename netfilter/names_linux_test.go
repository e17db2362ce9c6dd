package netfilter

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/nftables"

	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/tests/testenv"
)

func TestKernelRelease(t *testing.T) {
	for _, c := range []struct {
		in           string
		major, minor int
		ok           bool
	}{
		{"6.18.44-fc-v669", 6, 18, true}, {"6.12", 6, 12, true}, {"5.15.0-91-generic", 5, 15, true}, {"x", 0, 0, false},
	} {
		major, minor, ok := kernelRelease(c.in)
		if ok != c.ok || ok && (major != c.major || minor != c.minor) {
			t.Errorf("%q: %d.%d %v, want %d.%d %v", c.in, major, minor, ok, c.major, c.minor, c.ok)
		}
	}
}

// A pinned element pinned again is renewed to its full timeout; one overlapping an
// element pinned for another name is let be; the set holds what was pinned.
func TestPinNamesRenews(t *testing.T) {
	testenv.Require(t, testenv.Root)
	ns, _ := newNetNS(t)
	fw := plan.Firewall{Family: "inet", Table: "confine", LogGroup: 7,
		Chains: []plan.Chain{{Name: "egress", Hook: "output", FlowsSet: "egress", NamesSet: "names"}}}
	if err := Apply(ns, fw); err != nil {
		t.Fatal(err)
	}
	src, dst := netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("203.0.113.10")
	e := NameElement{Src: src, Dst: dst, Proto: "tcp", First: 443, Last: 444}
	const ttl = 20 * time.Second
	if err := PinNames(ns, "confine", "names", []NameElement{e}, ttl); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond)
	over := e
	over.First, over.Last = 444, 445
	if err := PinNames(ns, "confine", "names", []NameElement{e, over}, ttl); err != nil {
		t.Fatalf("renewing beside an overlapping element: %v", err)
	}
	checkRenewed(t, ns, key(dst, src, 6, 443), ttl)
	// and again: each renewal picks a timeout the element does not hold
	time.Sleep(1500 * time.Millisecond)
	if err := PinNames(ns, "confine", "names", []NameElement{e}, ttl); err != nil {
		t.Fatal(err)
	}
	checkRenewed(t, ns, key(dst, src, 6, 443), ttl)
}

// checkRenewed fails unless the element of key expires in about ttl.
func checkRenewed(t *testing.T, ns string, k []byte, ttl time.Duration) {
	t.Helper()
	conn, closeNS, err := connect(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer closeNS()
	elems, err := conn.GetSetElements(&nftables.Set{Table: &nftables.Table{Family: nftables.TableFamilyINet, Name: "confine"}, Name: "names", KeyType: nftables.TypeIPAddr})
	if err != nil {
		t.Fatal(err)
	}
	for _, el := range elems {
		if el.IntervalEnd || string(el.Key) != string(k) {
			continue
		}
		// renewed: more than what was left of the pin before
		if el.Expires < ttl-time.Second || el.Expires > ttl+time.Second {
			t.Errorf("the element expires in %v after a renewal, want about %v", el.Expires, ttl)
		}
		return
	}
	t.Fatalf("the pinned element is not in the set: %+v", elems)
}
