package netfilter

import (
	"errors"
	"slices"
	"testing"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// ApplyNew loads the table into a new namespace without listing its tables first; into
// a namespace that already holds the table it fails with EEXIST and changes nothing
// (the table keeps its flows, no other flow is added), where Apply replaces it whole.
func TestApplyNew(t *testing.T) {
	testenv.Require(t, testenv.Root)
	ns, _ := newNetNS(t)
	if err := ApplyNew(ns, dropFirewall); err != nil {
		t.Fatal(err)
	}
	if got := ingressPorts(t, ns); !slices.Equal(got, []uint16{8080}) {
		t.Fatalf("after ApplyNew the flows set holds ports %v, want [8080]", got)
	}
	other := dropFirewall
	other.Flows = []plan.Flow{{Set: "ingress", Src: "127.0.0.1/32", Dst: "127.0.0.1/32", Proto: "tcp", First: 9090, Last: 9090}}
	err := ApplyNew(ns, other)
	if !errors.Is(err, unix.EEXIST) {
		t.Fatalf("ApplyNew into a namespace that holds the table: %v, want EEXIST", err)
	}
	if got := ingressPorts(t, ns); !slices.Equal(got, []uint16{8080}) {
		t.Fatalf("after the refused ApplyNew the flows set holds ports %v, want [8080] only", got)
	}
	if err := Apply(ns, other); err != nil {
		t.Fatal(err)
	}
	if got := ingressPorts(t, ns); !slices.Equal(got, []uint16{9090}) {
		t.Fatalf("after Apply the flows set holds ports %v, want [9090]", got)
	}
}

// ingressPorts lists the first port of each range in the ingress flows set.
func ingressPorts(t *testing.T, ns string) []uint16 {
	t.Helper()
	conn, closeNS, err := connect(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer closeNS()
	table := &nftables.Table{Family: nftables.TableFamilyINet, Name: dropFirewall.Table}
	set, err := conn.GetSetByName(table, "ingress")
	if err != nil {
		t.Fatal(err)
	}
	elems, err := conn.GetSetElements(set)
	if err != nil {
		t.Fatal(err)
	}
	var ports []uint16
	for _, e := range elems {
		if len(e.Key) == 16 && !e.IntervalEnd {
			ports = append(ports, uint16(e.Key[12])<<8|uint16(e.Key[13]))
		}
	}
	slices.Sort(ports)
	return slices.Compact(ports)
}
