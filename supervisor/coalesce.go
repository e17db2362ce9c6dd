package supervisor

import (
	"net/netip"
	"sync"
	"time"

	"github.com/confine-sandbox/confine/audit"
	"github.com/confine-sandbox/confine/netfilter"
)

// retransmitQuiet is how long a refused TCP connection's flow stays open for its
// retransmissions at the least. TCP backs off, doubling the wait (1, 2, 4 … s for a
// SYN): a flow closes only after a quiet time of retransmitQuiet or, once the gaps grew
// longer, of 2.5 times the last gap, so the whole backoff of one connect is one flow.
const retransmitQuiet = 2 * time.Second

// Coalescer turns the drops of a component's firewall into denials, one per refused
// connection: the first packet of a TCP flow (its 5-tuple: a retransmission keeps the
// source port, a new connection takes a new one) is a denial at once, with count 1, so
// that a live reader sees it when it happens; when the flow's retransmissions stop,
// one more denial with the same what and reason counts them (count N, retransmissions:
// true). Other protocols have no retransmission: every packet is a denial. Safe for
// concurrent use; Flush ends every open flow (the component's run ended).
type Coalescer struct {
	attribute *audit.Attributor
	emit      func(component string, details map[string]any)
	mu        sync.Mutex
	flows     map[flowKey]*flow
	timer     *time.Timer
}

type flowKey struct {
	component, chain string
	src, dst         netip.Addr
	sport, dport     uint16
}

type flow struct {
	details       map[string]any // of the first packet
	last, gap     time.Duration  // since start, of the newest packet; its gap
	start         time.Time
	retransmitted int
}

// NewCoalescer emits through emit, with details from attribute.
func NewCoalescer(attribute *audit.Attributor, emit func(component string, details map[string]any)) *Coalescer {
	return &Coalescer{attribute: attribute, emit: emit, flows: map[flowKey]*flow{}}
}

// Add takes one NFLOG record of component's firewall; chain is "ingress" or "egress".
func (c *Coalescer) Add(component, chain string, rec netfilter.LogRecord) {
	details := c.attribute.Network(component, chain, rec.Proto, rec.Src, rec.Dst, rec.DstPort)
	if _, observed := netfilter.LogChain(rec.Prefix); observed {
		details[audit.DetailEnforced], details["mechanism"] = false, "nftables" // audit mode logged and accepted it
		details["direction"] = auditDirection(chain, rec.Proto)
	}
	c.attribute.Classify(details)
	if rec.Proto != "tcp" {
		c.emit(component, details)
		return
	}
	k := flowKey{component, chain, rec.Src, rec.Dst, rec.SrcPort, rec.DstPort}
	now := time.Now()
	c.mu.Lock()
	if f := c.flows[k]; f != nil && !f.over(now) {
		at := now.Sub(f.start)
		f.gap, f.last = at-f.last, at
		f.retransmitted++
		c.mu.Unlock()
		return
	}
	c.flows[k] = &flow{details: details, start: now}
	c.schedule()
	c.mu.Unlock()
	c.emit(component, details)
}

// over reports whether the flow's quiet time has passed by now.
func (f *flow) over(now time.Time) bool {
	return now.Sub(f.start) > f.last+max(retransmitQuiet, f.gap*5/2)
}

// schedule arms the timer that closes flows; c.mu is held.
func (c *Coalescer) schedule() {
	if c.timer == nil {
		c.timer = time.AfterFunc(retransmitQuiet, c.expire)
	}
}

// expire closes the flows whose quiet time passed and re-arms while flows are open.
func (c *Coalescer) expire() {
	c.close(func(f *flow) bool { return f.over(time.Now()) })
}

// Flush closes every open flow of component ("" for all), emitting their counts.
func (c *Coalescer) Flush(component string) {
	if c == nil {
		return
	}
	c.close(func(*flow) bool { return true }, component)
}

func (c *Coalescer) close(done func(*flow) bool, only ...string) {
	type tally struct {
		component string
		details   map[string]any
	}
	var out []tally
	c.mu.Lock()
	for k, f := range c.flows {
		if len(only) > 0 && only[0] != "" && k.component != only[0] {
			continue
		}
		if done(f) {
			delete(c.flows, k)
			if f.retransmitted > 0 {
				d := make(map[string]any, len(f.details)+1)
				for key, v := range f.details {
					d[key] = v
				}
				d[audit.DetailCount], d["retransmissions"] = f.retransmitted, true
				out = append(out, tally{k.component, d})
			}
		}
	}
	if c.timer != nil {
		c.timer.Stop() // from the timer's own call, a no-op
	}
	c.timer = nil
	if len(c.flows) > 0 {
		c.timer = time.AfterFunc(retransmitQuiet/2, c.expire)
	}
	c.mu.Unlock()
	for _, t := range out {
		c.emit(t.component, t.details)
	}
}

// auditDirection names an audit-mode flow as the contract with `confine learn` does
// (docs/audit.md): connect (TCP out), send (other protocols out), receive (in).
func auditDirection(chain, proto string) string {
	switch {
	case chain == "ingress":
		return "receive"
	case proto == "tcp":
		return "connect"
	}
	return "send"
}
