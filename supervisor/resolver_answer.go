package supervisor

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/netfilter"
	"github.com/confine-sandbox/confine/policy/plan"
)

// maxHops bounds the CNAME chain followed across upstream queries.
const maxHops = 8

// lookup asks the upstreams for qname's A records, following CNAMEs, and returns the
// answer to give (the chain and the kept addresses, every TTL the chain's smallest),
// the kept addresses, that TTL and how many addresses were dropped: those that are not
// public (DNS rebinding), unless CONFINE_DNS_ALLOW_PRIVATE lists them, and those past
// MaxAddrsPerName.
func (r *resolver) lookup(qname string) (answer []dns.RR, addrs []netip.Addr, ttl uint32, stripped int, err error) {
	ttl = uint32(1 << 31)
	target := dns.Fqdn(qname)
	for hop := 0; hop < maxHops; hop++ {
		resp, err := r.exchange(target)
		if err != nil {
			return nil, nil, 0, 0, err
		}
		next := target
		for steps := 0; steps < 2*maxHops; steps++ { // the chain within this response
			moved := false
			for _, rr := range resp.Answer {
				if !strings.EqualFold(rr.Header().Name, next) {
					continue
				}
				switch v := rr.(type) {
				case *dns.CNAME:
					answer = append(answer, v)
					ttl = min(ttl, v.Hdr.Ttl)
					next, moved = v.Target, true
				case *dns.A:
					a, ok := netip.AddrFromSlice(v.A.To4())
					if !ok || !r.allowed(a) || len(addrs) == MaxAddrsPerName {
						stripped++
						continue
					}
					answer = append(answer, v)
					addrs = append(addrs, a)
					ttl = min(ttl, v.Hdr.Ttl)
				}
			}
			if !moved || len(addrs) > 0 {
				break
			}
		}
		if len(addrs) > 0 || next == target || resp.Rcode != dns.RcodeSuccess {
			break
		}
		target = next // the chain leaves this response: ask for its end
	}
	if len(addrs) == 0 {
		return nil, nil, 0, stripped, nil // nothing to pin: an empty answer
	}
	for _, rr := range answer {
		rr.Header().Ttl = ttl // no part of the answer outlives the pinned addresses
	}
	return answer, addrs, ttl, stripped, nil
}

// exchange asks the upstreams in turn for name's A records.
func (r *resolver) exchange(name string) (*dns.Msg, error) {
	m := new(dns.Msg).SetQuestion(name, dns.TypeA)
	var last error
	for _, up := range r.upstreams {
		resp, _, err := r.client.Exchange(m, up)
		if err == nil {
			return resp, nil
		}
		last = err
	}
	return nil, fmt.Errorf("resolving %s: %w", name, last)
}

// nonPublic are IPv4 ranges no public name should answer with (RFC 6890), beside what
// netip already classifies as private, loopback, link-local and multicast.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"), netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"), netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"), netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("240.0.0.0/4"),
}

// allowed reports whether an answer's address may be pinned.
func (r *resolver) allowed(a netip.Addr) bool {
	for _, p := range r.allow {
		if p.Contains(a) {
			return true
		}
	}
	if a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsMulticast() || a.IsUnspecified() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// pin adds the addresses for the component's flows of the name to the names set that
// the component cannot reach (the bridge's in a stack, the host table's for a lone run)
// and to its own, for the TTL (at least the minimum), before the answer is sent.
// A component that keeps NET_ADMIN may have flushed its own table: the outer set alone
// then decides, as it does for every other packet, so its own set being gone (ENOENT)
// does not fail the answer; any other failure does.
func (r *resolver) pin(c *nameClient, flows []plan.NameFlow, addrs []netip.Addr, ttl uint32) error {
	if len(addrs) == 0 {
		return nil
	}
	var elems []netfilter.NameElement
	for _, f := range flows {
		for _, a := range addrs {
			elems = append(elems, netfilter.NameElement{Src: c.src, Dst: a, Proto: f.Proto, First: f.First, Last: f.Last})
		}
	}
	// The elements outlive the answer's TTL by a second, so a client that caches it
	// for exactly that long still connects.
	timeout := max(time.Duration(ttl)*time.Second, r.minTTL) + time.Second
	ns, err := c.netns()
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	// Both at once: they are transactions in two namespaces, and each waits for the
	// kernel's commit of a set that grows with the names pinned (docs/BENCHMARKS.md).
	outer := make(chan error, 1)
	go func() {
		if r.pinAlso == nil {
			outer <- nil
			return
		}
		outer <- r.pinAlso(elems, timeout)
	}()
	own := netfilter.PinNames(ns, c.table, NamesSetName, elems, timeout)
	if err := <-outer; err != nil {
		return err
	}
	if own != nil && (r.pinAlso == nil || !errors.Is(own, unix.ENOENT)) {
		return own
	}
	if len(flows) > 0 {
		r.answers.add(c.src, flows[0].Name, addrs, time.Now().Add(timeout))
	}
	return nil
}

// NamesSetName is the names set's name in every table that has one (policy.NamesSet).
const NamesSetName = "names"
