package supervisor

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/confine-sandbox/confine/audit"
	"github.com/confine-sandbox/confine/netfilter"
	"github.com/confine-sandbox/confine/policy/plan"
)

// The stack's resolver answers its components' queries for the names their
// network.connect declares, and only those (the model of Cilium's toFQDNs): it asks the
// resolvers of the /etc/resolv.conf confine sees, keeps the public IPv4 answers, at
// most MaxAddrsPerName of them, and pins each into the component's names set and the
// bridge's, with the answer's TTL as the element's timeout (at least MinNameTTL), before
// the answer goes back. The kernel expires the elements, also after a crash; connections
// made while they were there go on as established ones. An undeclared name gets
// NXDOMAIN and a denial event naming the missing declaration.
const (
	// MinNameTTL is the shortest time an answer stays pinned: clients that cache past
	// a short TTL still connect. CONFINE_DNS_MIN_TTL overrides it (tests use seconds).
	MinNameTTL = 60 * time.Second
	// MaxAddrsPerName caps the addresses pinned for one answer.
	MaxAddrsPerName = 16
)

// Environment knobs, documented in docs/network.md: the upstream resolvers instead of
// /etc/resolv.conf's, and CIDRs kept in answers although they are not public (a test's
// own namespaces use documentation ranges).
const (
	envUpstream     = "CONFINE_DNS_UPSTREAM"
	envAllowPrivate = "CONFINE_DNS_ALLOW_PRIVATE"
	envMinTTL       = "CONFINE_DNS_MIN_TTL"
)

type resolver struct {
	names     map[netip.Addr]map[string][]plan.NameFlow // client address → name → flows
	clients   map[netip.Addr]*nameClient
	upstreams []string
	allow     []netip.Prefix
	minTTL    time.Duration
	client    *dns.Client
	servers   []*dns.Server
	mu        sync.Mutex // serialises pinning
	// deny emits a denial for component; pinAlso pins into the bridge's names set too,
	// or a lone run's host table's.
	deny    func(component string, details map[string]any)
	pinAlso func(elems []netfilter.NameElement, timeout time.Duration) error
	// answers records each pinned answer, so that denials name it (nil: not kept).
	answers *DNSAnswers
}

// nameClient is a component whose queries the resolver answers.
type nameClient struct {
	name  string
	src   netip.Addr // its address, the source of its queries and its packets
	table string     // its firewall's table, which holds its names set
	// netns is its network namespace's path while it runs.
	netns func() (string, error)
}

func newResolver(names []plan.NameFlow, src func(plan.NameFlow) (netip.Addr, error)) (*resolver, error) {
	r := &resolver{names: map[netip.Addr]map[string][]plan.NameFlow{}, clients: map[netip.Addr]*nameClient{},
		client: &dns.Client{Timeout: 3 * time.Second}, minTTL: MinNameTTL}
	for _, n := range names {
		a, err := src(n)
		if err != nil {
			return nil, fmt.Errorf("resolver: bug: %w", err)
		}
		if r.names[a] == nil {
			r.names[a] = map[string][]plan.NameFlow{}
		}
		r.names[a][n.Name] = append(r.names[a][n.Name], n)
	}
	return r, r.configure()
}

// startResolver serves DNS on the bridge address, port 53 over UDP and TCP, in the
// bridge namespace, when some component declares a name.
func (s *Supervisor) startResolver() error {
	u := s.plan.Network.Uplink
	if u == nil || len(u.Names) == 0 || s.bridge == nil {
		return nil
	}
	r, err := newResolver(u.Names, func(n plan.NameFlow) (netip.Addr, error) {
		p, err := netip.ParsePrefix(n.Src)
		return p.Addr(), err
	})
	if err != nil {
		return err
	}
	r.deny = func(component string, d map[string]any) { s.events.emit(component, EventDenial, d) }
	r.answers = s.answers
	r.pinAlso = func(elems []netfilter.NameElement, timeout time.Duration) error {
		return netfilter.PinNames(s.bridge.NSPath, s.plan.Network.Firewall.Table, NamesSetName, elems, timeout)
	}
	for _, c := range s.comps {
		a, err := netip.ParseAddr(c.plan.Net.Address)
		if err != nil {
			continue
		}
		r.clients[a] = &nameClient{name: c.plan.Name, src: a, table: c.plan.Net.Firewall.Table, netns: func() (string, error) {
			c.mu.Lock()
			sb := c.sb
			c.mu.Unlock()
			if sb == nil {
				return "", fmt.Errorf("%s is not running", c.plan.Name)
			}
			return sb.NetNS(), nil
		}}
	}
	addr := net.JoinHostPort(s.plan.Network.BridgeAddress, "53")
	var pc net.PacketConn
	var l net.Listener
	err = netfilter.InNamespace(s.bridge.NSPath, func() error {
		var err error
		pc, l, err = listenDNS(addr)
		return err
	})
	if err != nil {
		return fmt.Errorf("resolver on %s: %w", addr, err)
	}
	r.serve(pc, l)
	s.resolver = r
	return nil
}

// ServeLoneNames is a lone run's resolver: it answers the component at src (its
// uplink's peer address) for the names it declares, on addr (the uplink's gateway) port
// 53 in the caller's namespace, pins the answers into the names set of its own table in
// nsPath and through pinHost (the host table's, which the component cannot flush),
// records them in answers (nil: not kept), and reports each denial to deny.
// The returned function stops it.
func ServeLoneNames(addr string, c *plan.Component, src netip.Addr, nsPath string, answers *DNSAnswers, deny func(map[string]any),
	pinHost func([]netfilter.NameElement, time.Duration) error) (func(), error) {
	r, err := newResolver(c.Net.Names, func(plan.NameFlow) (netip.Addr, error) { return src, nil })
	if err != nil {
		return nil, err
	}
	r.deny = func(_ string, d map[string]any) { deny(d) }
	r.answers = answers
	r.pinAlso = pinHost
	r.clients[src] = &nameClient{name: c.Name, src: src, table: c.Net.Firewall.Table, netns: func() (string, error) { return nsPath, nil }}
	pc, l, err := listenDNS(net.JoinHostPort(addr, "53"))
	if err != nil {
		return nil, fmt.Errorf("resolver on %s:53: %w", addr, err)
	}
	r.serve(pc, l)
	return r.close, nil
}

func listenDNS(addr string) (net.PacketConn, net.Listener, error) {
	pc, err := net.ListenPacket("udp4", addr)
	if err != nil {
		return nil, nil, err
	}
	l, err := net.Listen("tcp4", addr)
	if err != nil {
		pc.Close()
		return nil, nil, err
	}
	return pc, l, nil
}

func (r *resolver) serve(pc net.PacketConn, l net.Listener) {
	r.servers = []*dns.Server{{PacketConn: pc, Handler: r}, {Listener: l, Handler: r}}
	for _, srv := range r.servers {
		go srv.ActivateAndServe()
	}
}

// configure reads the upstream resolvers and the knobs.
func (r *resolver) configure() error {
	if v := os.Getenv(envUpstream); v != "" {
		r.upstreams = strings.Split(v, ",")
	} else {
		cfg, err := dns.ClientConfigFromFile("/etc/resolv.conf")
		if err != nil {
			return fmt.Errorf("resolver: the upstream resolvers: %w", err)
		}
		for _, s := range cfg.Servers {
			r.upstreams = append(r.upstreams, net.JoinHostPort(s, cfg.Port))
		}
	}
	if len(r.upstreams) == 0 {
		return fmt.Errorf("resolver: /etc/resolv.conf names no nameserver for the stack's names")
	}
	for _, c := range strings.Split(os.Getenv(envAllowPrivate), ",") {
		if p, err := netip.ParsePrefix(strings.TrimSpace(c)); err == nil {
			r.allow = append(r.allow, p.Masked())
		}
	}
	if d, err := time.ParseDuration(os.Getenv(envMinTTL)); err == nil && d > 0 {
		r.minTTL = d
	}
	return nil
}

func (r *resolver) close() {
	for _, srv := range r.servers {
		srv.Shutdown()
	}
}

// resolvConf is the /etc/resolv.conf of a component with declared names.
func resolvConf(c *plan.Component, bridge string) string {
	if len(c.Net.Names) == 0 {
		return ""
	}
	return "nameserver " + bridge + "\noptions ndots:1 attempts:2 timeout:2\n"
}

// ServeDNS answers one query: only from a component, only for its declared names.
func (r *resolver) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	reply := new(dns.Msg).SetReply(req)
	reply.RecursionAvailable = true
	defer w.WriteMsg(reply)
	client, _ := netip.ParseAddrPort(w.RemoteAddr().String())
	comp := r.clients[client.Addr().Unmap()]
	if comp == nil || len(req.Question) != 1 {
		reply.Rcode = dns.RcodeRefused
		return
	}
	q := req.Question[0]
	name := strings.TrimSuffix(strings.ToLower(q.Name), ".")
	flows := r.names[client.Addr().Unmap()][name]
	if len(flows) == 0 {
		reply.Rcode = dns.RcodeNameError
		what := fmt.Sprintf("%s resolves %s", comp.name, name)
		r.deny(comp.name, map[string]any{
			audit.DetailLayer: audit.LayerNetwork, audit.DetailWhat: what, audit.DetailDecidedBy: "default",
			audit.DetailReason: fmt.Sprintf("%s, but %s's network.connect does not name %s (declare connect: - to: %s:PORT/PROTO)", what, comp.name, name, name),
			"chain":            "resolver", "name": name,
		})
		return
	}
	if q.Qtype != dns.TypeA {
		return // IPv4 only: an empty answer (NODATA), not an error
	}
	answer, addrs, ttl, stripped, err := r.lookup(q.Name)
	if err != nil {
		reply.Rcode = dns.RcodeServerFailure
		return
	}
	if stripped > 0 {
		what := fmt.Sprintf("%s resolves %s", comp.name, name)
		r.deny(comp.name, map[string]any{
			audit.DetailLayer: audit.LayerNetwork, audit.DetailWhat: what, audit.DetailDecidedBy: "default",
			audit.DetailReason: fmt.Sprintf("%s, but %d of the addresses answered are not public and were removed (DNS rebinding)", what, stripped),
			"chain":            "resolver", "name": name, "stripped": stripped,
		})
	}
	if err := r.pin(comp, flows, addrs, ttl); err != nil {
		reply.Rcode = dns.RcodeServerFailure // never an answer the firewall does not let through
		return
	}
	reply.Answer = answer
}
