package supervisor

import (
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/confine-sandbox/confine/audit"
	"github.com/confine-sandbox/confine/netfilter"
	"github.com/confine-sandbox/confine/policy/plan"
)

// TestCoalescer: a refused connection's first packet is a denial at once; its
// retransmissions (same 5-tuple) become one more denial that counts them when the flow
// ends; another connection (a new source port) and every UDP packet are denials of
// their own.
func TestCoalescer(t *testing.T) {
	var mu sync.Mutex
	var got []map[string]any
	a := audit.NewAttributor(&plan.Plan{Name: "shop", Components: []plan.Component{{Name: "api"}}})
	c := NewCoalescer(a, func(_ string, d map[string]any) { mu.Lock(); got = append(got, d); mu.Unlock() })
	rec := netfilter.LogRecord{Proto: "tcp", Src: netip.MustParseAddr("10.0.0.2"), Dst: netip.MustParseAddr("10.0.0.3"), SrcPort: 40000, DstPort: 5432}
	for range 3 {
		c.Add("api", "egress", rec)
	}
	mu.Lock()
	if len(got) != 1 || got[0][audit.DetailCount] != 1 || got[0][audit.DetailExpected] != false || got[0][audit.DetailEnforced] != true {
		t.Fatalf("after three packets of one flow: %v", got)
	}
	mu.Unlock()
	other := rec
	other.SrcPort = 40001
	c.Add("api", "egress", other)
	udp := rec
	udp.Proto = "udp"
	c.Add("api", "egress", udp)
	c.Add("api", "egress", udp)
	c.Flush("api")
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 5 {
		t.Fatalf("%d denials, want 5: %v", len(got), got)
	}
	last := got[4]
	if last[audit.DetailCount] != 2 || last["retransmissions"] != true || last[audit.DetailWhat] != got[0][audit.DetailWhat] {
		t.Errorf("the retransmissions' tally: %v", last)
	}
	if len(c.flows) != 0 {
		t.Errorf("%d flows open after Flush", len(c.flows))
	}
}

// TestFlowOver: a flow stays open through TCP's doubling backoff and closes after a
// quiet time.
func TestFlowOver(t *testing.T) {
	start := time.Now()
	f := &flow{start: start}
	for _, at := range []time.Duration{1, 3, 7, 15, 31, 63} { // a SYN's retransmissions
		now := start.Add(at * time.Second)
		if f.over(now) {
			t.Fatalf("closed before the retransmission at %ds", at)
		}
		f.gap, f.last = at*time.Second-f.last, at*time.Second
	}
	if !f.over(start.Add(63*time.Second + 81*time.Second)) {
		t.Error("still open long after the last retransmission")
	}
}
