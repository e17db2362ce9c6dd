package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// The names phase, for bench/names.sh. A name's first label spells its IPv4 address
// with hyphens ("203-0-113-10.names.example"), so the -dns server needs no table.

// nameTTL is the servers' answer TTL: longer than a benchmark round, so nothing expires.
const nameTTL = 3600

// runDNS answers A queries on addr (UDP) from the names themselves.
func runDNS(addr string) error {
	pc, err := net.ListenPacket("udp4", addr)
	if err != nil {
		return err
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg).SetReply(req)
		q := req.Question[0]
		a, ok := nameAddr(q.Name)
		switch {
		case !ok:
			m.Rcode = dns.RcodeNameError
		case q.Qtype == dns.TypeA:
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: nameTTL}, A: a.AsSlice()}}
		}
		w.WriteMsg(m)
	})}
	return srv.ActivateAndServe()
}

func nameAddr(name string) (netip.Addr, bool) {
	label, _, _ := strings.Cut(name, ".")
	a, err := netip.ParseAddr(strings.ReplaceAll(label, "-", "."))
	return a, err == nil && a.Is4()
}

// resolveNames looks up every name in file (one a line) but the last `timed`, eight
// at a time; then the last ones one by one, each a first answer pinned into sets that
// hold the others already; then target `renewals` times, each a renewal of a pinned
// answer. It prints "names N SECONDS", "lookup first MEDIAN-µs" and "lookup renew
// MEDIAN-µs", and returns target's address.
func resolveNames(file, target string, timed, renewals int) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	names := strings.Fields(string(b))
	timed = min(timed, len(names))
	bulk, seq := names[:len(names)-timed], names[len(names)-timed:]
	start := time.Now()
	work := make(chan string)
	errs := make(chan error, 8)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range work {
				if _, err := lookup(n); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		}()
	}
	for _, n := range bulk {
		work <- n
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		return "", err
	default:
	}
	first, err := timeLookups(seq)
	if err != nil {
		return "", err
	}
	fmt.Printf("names %d %.2f\n", len(names), time.Since(start).Seconds())
	host, port, err := net.SplitHostPort(target)
	if err != nil {
		return "", err
	}
	var addr string
	reps := make([]string, renewals)
	for i := range reps {
		reps[i] = host
	}
	renew, err := timeLookups(reps)
	if err != nil {
		return "", err
	}
	if addr, err = lookup(host); err != nil {
		return "", err
	}
	fmt.Printf("lookup first %.0f\nlookup renew %.0f\n", first, renew)
	return net.JoinHostPort(addr, port), nil
}

// timeLookups looks names up one by one and returns the median in µs.
func timeLookups(names []string) (float64, error) {
	var us []float64
	for _, n := range names {
		t0 := time.Now()
		if _, err := lookup(n); err != nil {
			return 0, err
		}
		us = append(us, float64(time.Since(t0).Microseconds()))
	}
	if len(us) == 0 {
		return 0, nil
	}
	sort.Float64s(us)
	return us[len(us)/2], nil
}

// lookup asks the system's resolver (the stack's, by /etc/resolv.conf) for name's A
// records only: one query, no AAAA beside it.
func lookup(name string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip4", name)
	if err != nil {
		return "", err
	}
	return addrs[0].String(), nil
}
