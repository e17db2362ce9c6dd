//go:build linux

package net_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/confine-sandbox/confine/audit"
	"github.com/confine-sandbox/confine/netfilter"
	"github.com/confine-sandbox/confine/tests/testenv"
)

const upstreamDNS = "203.0.113.53"

// serveDNS runs the "internet's" resolver in the outside namespace.
func (w *world) serveDNS(records map[string][]string) {
	w.t.Helper()
	var pc net.PacketConn
	err := netfilter.InNamespace(nsPath(w.outside), func() error {
		var err error
		pc, err = net.ListenPacket("udp4", upstreamDNS+":53")
		return err
	})
	if err != nil {
		w.t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(rw dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg).SetReply(req)
		rrs, ok := records[strings.ToLower(req.Question[0].Name)]
		if !ok {
			m.Rcode = dns.RcodeNameError
		}
		for _, s := range rrs {
			if rr, err := dns.NewRR(s); err == nil && (req.Question[0].Qtype == dns.TypeA || rr.Header().Rrtype == dns.TypeCNAME) {
				m.Answer = append(m.Answer, rr)
			}
		}
		rw.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	w.t.Cleanup(func() { srv.Shutdown() })
}

// TestNames: a declared name, one behind a CNAME in the same answer and one whose chain
// needs a second upstream query are reachable; an undeclared name gets NXDOMAIN and a
// denial naming it; a private answer is stripped; the pinned answer expires from the
// set with its TTL; the host is as before after down.
func TestNames(t *testing.T) {
	w := newWorld(t, "203.0.113.10", upstreamDNS)
	w.serve(w.outside, "tcp", "203.0.113.10:80")
	echo := w.serveEcho("203.0.113.10:81")
	w.serveDNS(map[string][]string{
		"api.vendor.example.":     {"api.vendor.example. 2 IN A 203.0.113.10"},
		"www.vendor.example.":     {"www.vendor.example. 300 IN CNAME api.vendor.example.", "api.vendor.example. 2 IN A 203.0.113.10"},
		"alias.vendor.example.":   {"alias.vendor.example. 300 IN CNAME far.other.example."},
		"far.other.example.":      {"far.other.example. 2 IN A 203.0.113.10"},
		"private.vendor.example.": {"private.vendor.example. 2 IN A 10.1.2.3"},
		"undeclared.example.":     {"undeclared.example. 2 IN A 203.0.113.10"},
	})
	w.env = []string{"CONFINE_DNS_UPSTREAM=" + upstreamDNS + ":53", "CONFINE_DNS_ALLOW_PRIVATE=203.0.113.0/24", "CONFINE_DNS_MIN_TTL=2s"}
	before := w.snapshot()
	dir := t.TempDir()
	component(t, dir, "app", `network:
  connect:
    - to: api.vendor.example:80-81/tcp
    - to: www.vendor.example:80/tcp
    - to: alias.vendor.example:80/tcp
    - to: private.vendor.example:80/tcp`,
		"dial:tcp/api.vendor.example:80", "dial:tcp/www.vendor.example:80", "dial:tcp/alias.vendor.example:80",
		"dial:tcp/private.vendor.example:80", "dial:tcp/undeclared.example:80", "sleep:")
	stack := testenv.StackName("net-names")
	w.upStack(dir, stack, "10.84.0.0/24", []string{"app"}, "")
	res := w.results(stack, "app", "dial:tcp/undeclared.example:80")
	for _, p := range []string{"dial:tcp/api.vendor.example:80", "dial:tcp/www.vendor.example:80", "dial:tcp/alias.vendor.example:80"} {
		if r := res[p]; !r.OK || !strings.HasPrefix(r.Out, w.outside+" 203.0.113.10:80 sees "+hostAddr) {
			t.Errorf("%s: %+v", p, r)
		}
	}
	for _, p := range []string{"dial:tcp/private.vendor.example:80", "dial:tcp/undeclared.example:80"} {
		if r := res[p]; r.OK || !strings.Contains(r.Err, "no such host") {
			t.Errorf("%s: %+v, want no such host", p, r)
		}
	}
	waitDenials(t, dir+"/audit.log", map[string]func(audit.Record) bool{
		"private.vendor.example stripped": func(r audit.Record) bool {
			return r.Component == "app" && r.Details["name"] == "private.vendor.example" && r.Details["stripped"] == float64(1)
		},
		"undeclared.example": func(r audit.Record) bool {
			return r.Component == "app" && r.Details["name"] == "undeclared.example" && strings.Contains(r.Details["reason"].(string), "does not name undeclared.example")
		},
	})
	// A connection the component makes while the answer is pinned outlives the pin.
	var pid int
	for _, l := range strings.Split(w.confine("ps", stack), "\n") {
		if f := strings.Fields(l); len(f) > 3 && f[0] == "app" {
			pid, _ = strconv.Atoi(f[3])
		}
	}
	compNS := fmt.Sprintf("/proc/%d/ns/net", pid)
	// Ask the stack's resolver from app's namespace, as app would: a fresh pin.
	udp, err := netfilter.DialFrom(compNS, "udp4", "10.84.0.1:53", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	q := new(dns.Msg).SetQuestion("api.vendor.example.", dns.TypeA)
	co := &dns.Conn{Conn: udp}
	co.SetDeadline(time.Now().Add(2 * time.Second))
	if err := co.WriteMsg(q); err != nil {
		t.Fatal(err)
	}
	if a, err := co.ReadMsg(); err != nil || len(a.Answer) != 1 {
		t.Fatalf("app's query for api.vendor.example: %v, %v", a, err)
	}
	udp.Close()
	long, err := netfilter.DialFrom(compNS, "tcp4", echo, 2*time.Second)
	if err != nil {
		t.Fatalf("a connection from app to the pinned address: %v", err)
	}
	defer long.Close()
	// The answer expires from the bridge's set (2 s TTL, 2 s minimum, 1 s grace).
	list := func() string {
		out, _ := exec.Command("nsenter", "--net="+netfilter.StackNSPath(stack), "nft", "list", "set", "inet", "confine_"+strings.ReplaceAll(stack, "-", "_"), "names").CombinedOutput()
		return string(out)
	}
	for deadline := time.Now().Add(20 * time.Second); strings.Contains(list(), "203.0.113.10"); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the pinned answer never expired:\n%s", list())
		}
	}
	long.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := fmt.Fprintln(long, "still there"); err != nil {
		t.Errorf("writing on the established connection after the TTL: %v", err)
	} else if line, err := bufio.NewReader(long).ReadString('\n'); err != nil || line != "still there\n" {
		t.Errorf("the established connection after the TTL: %q, %v", line, err)
	}
	if c, err := netfilter.DialFrom(compNS, "tcp4", echo, time.Second); err == nil {
		c.Close()
		t.Error("a new connection to the expired address was let through")
	}
	w.confine("down", "--grace", "1s", stack)
	if after := w.snapshot(); after != before {
		t.Errorf("the host namespace changed across up and down:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// serveEcho echoes every connection to addr in the outside namespace, for as long as it
// stays open; it returns addr.
func (w *world) serveEcho(addr string) string {
	w.t.Helper()
	err := netfilter.InNamespace(nsPath(w.outside), func() error {
		l, err := net.Listen("tcp4", addr)
		if err != nil {
			return err
		}
		w.t.Cleanup(func() { l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				go func() { io.Copy(c, c); c.Close() }()
			}
		}()
		return nil
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return addr
}
