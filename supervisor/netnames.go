package supervisor

import (
	"net/netip"
	"sync"
	"time"

	"github.com/confine-sandbox/confine/audit"
)

// DNSAnswers remembers which name the resolver answered each address for, per
// component, for as long as the answer is pinned: a network denial to that address then
// carries the name (details.name), so that `confine learn` writes NAME:PORT/PROTO rather
// than an address that changes. Kept apart from the resolver so that the components'
// readers, which start before it, can read it.
type DNSAnswers struct {
	mu   sync.Mutex
	seen map[netip.Addr]map[netip.Addr]dnsAnswer // client → answered address → name
}

type dnsAnswer struct {
	name  string
	until time.Time
}

// maxAnswers bounds what one client's answers hold; expired ones go first.
const maxAnswers = 4096

// NewDNSAnswers is an empty record of answers.
func NewDNSAnswers() *DNSAnswers {
	return &DNSAnswers{seen: map[netip.Addr]map[netip.Addr]dnsAnswer{}}
}

// add records that client was answered addrs for name, pinned until until.
func (n *DNSAnswers) add(client netip.Addr, name string, addrs []netip.Addr, until time.Time) {
	if n == nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	m := n.seen[client]
	if m == nil {
		m = map[netip.Addr]dnsAnswer{}
		n.seen[client] = m
	}
	if len(m)+len(addrs) > maxAnswers {
		now := time.Now()
		for a, v := range m {
			if now.After(v.until) {
				delete(m, a)
			}
		}
	}
	for _, a := range addrs {
		if len(m) < maxAnswers {
			m[a] = dnsAnswer{name, until}
		}
	}
}

// name is the name client was last answered dst for, "" when none is pinned.
func (n *DNSAnswers) name(client, dst netip.Addr) string {
	if n == nil {
		return ""
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	v, ok := n.seen[client][dst]
	if !ok || time.Now().After(v.until) {
		return ""
	}
	return v.name
}

// Annotate gives a network denial of the component at from, to an address the resolver
// answered it with, the DNS name in details.name (unless a peer names it already).
func (n *DNSAnswers) Annotate(from netip.Addr, d map[string]any) {
	if d[audit.DetailLayer] != audit.LayerNetwork || d["peer"] != nil {
		return
	}
	dst, _ := d["dst"].(string)
	to, err := netip.ParseAddr(dst)
	if err != nil {
		return
	}
	if name := n.name(from, to.Unmap()); name != "" {
		d["name"] = name
	}
}

// emitDenial emits a denial of component, named as Annotate does.
func (s *Supervisor) emitDenial(component string, d map[string]any) {
	if c := s.byName[component]; c != nil {
		if from, err := netip.ParseAddr(c.plan.Net.Address); err == nil {
			s.answers.Annotate(from, d)
		}
	}
	s.events.emit(component, EventDenial, d)
}
