package policy

import (
	"fmt"
	"math"
	"net/netip"
	"path"
	"strconv"
	"strings"
)

// PortRange is a protocol and an inclusive port range, as written "8080/tcp" or "5000-5010/udp".
type PortRange struct {
	Proto       string // tcp or udp
	First, Last uint16
}

func (p PortRange) String() string {
	if p.First == p.Last {
		return fmt.Sprintf("%d/%s", p.First, p.Proto)
	}
	return fmt.Sprintf("%d-%d/%s", p.First, p.Last, p.Proto)
}

// Covers reports whether p includes every port of q, for the same protocol.
func (p PortRange) Covers(q PortRange) bool {
	return p.Proto == q.Proto && p.First <= q.First && q.Last <= p.Last
}

// Overlaps reports whether p and q share a port of the same protocol.
func (p PortRange) Overlaps(q PortRange) bool {
	return p.Proto == q.Proto && p.First <= q.Last && q.First <= p.Last
}

// ParsePorts parses "PORT/PROTO" or "FIRST-LAST/PROTO".
func ParsePorts(s string) (PortRange, error) {
	num, proto, ok := strings.Cut(s, "/")
	if !ok || (proto != "tcp" && proto != "udp") {
		return PortRange{}, fmt.Errorf("expected PORT/tcp or PORT/udp (e.g. 8080/tcp, 5000-5010/udp), found %q", s)
	}
	lo, hi, isRange := strings.Cut(num, "-")
	first, err := parsePort(lo)
	if err != nil {
		return PortRange{}, err
	}
	last := first
	if isRange {
		if last, err = parsePort(hi); err != nil {
			return PortRange{}, err
		}
		if last < first {
			return PortRange{}, fmt.Errorf("port range %q runs backwards", num)
		}
	}
	return PortRange{Proto: proto, First: first, Last: last}, nil
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("expected a port from 1 to 65535, found %q", s)
	}
	return uint16(n), nil
}

// Peer is one side of a flow: a component of the stack, or addresses outside it.
// Exactly one of Component and Prefix is set.
type Peer struct {
	Component string
	Prefix    netip.Prefix
	// Name is a DNS name outside the stack (connect only): the stack's resolver answers
	// it and lets its addresses through for their TTL (policy/names.go).
	Name string
}

func (p Peer) String() string {
	if p.Component != "" {
		return p.Component
	}
	if p.Name != "" {
		return p.Name
	}
	if p.Prefix.IsSingleIP() {
		return p.Prefix.Addr().String()
	}
	return p.Prefix.String()
}

// ParsePeer parses a component name, an IP address or a CIDR.
func ParsePeer(s string) (Peer, error) {
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		s = s[1 : len(s)-1]
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return Peer{}, fmt.Errorf("expected a CIDR such as 10.0.0.0/8, found %q", s)
		}
		if p.Masked() != p {
			return Peer{}, fmt.Errorf("CIDR %q has host bits set; expected %s", s, p.Masked())
		}
		return Peer{Prefix: p}, nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		if a.Zone() != "" {
			return Peer{}, fmt.Errorf("address %q has a zone; expected an address without one", s)
		}
		return Peer{Prefix: netip.PrefixFrom(a, a.BitLen())}, nil
	}
	if !validName(s) {
		return Peer{}, fmt.Errorf("expected a component name, an IP address or a CIDR, found %q", s)
	}
	return Peer{Component: s}, nil
}

// Endpoint is a connect target: a peer and the ports it may be called on.
type Endpoint struct {
	Peer  Peer
	Ports PortRange
}

func (e Endpoint) String() string {
	host := e.Peer.String()
	if e.Peer.Component == "" && e.Peer.Prefix.Addr().Is6() {
		host = "[" + host + "]"
	}
	return host + ":" + e.Ports.String()
}

// ParseEndpoint parses "HOST:PORTS/PROTO" where HOST is a component, an address or a
// CIDR (IPv6 in brackets: "[fd00::/8]:443/tcp").
func ParseEndpoint(s string) (Endpoint, error) {
	slash := strings.LastIndex(s, "/")
	colon := strings.LastIndex(s, ":")
	if colon < 0 || slash < colon {
		return Endpoint{}, fmt.Errorf("expected HOST:PORT/PROTO (e.g. ledger:9000/tcp, 10.0.0.0/8:443/tcp), found %q", s)
	}
	host := s[:colon]
	if strings.Contains(host, ":") && !strings.HasPrefix(host, "[") {
		return Endpoint{}, fmt.Errorf("IPv6 hosts go in brackets (e.g. [::1]:53/udp), found %q", s)
	}
	peer, err := ParsePeer(host)
	if isDNSName(host) {
		peer, err = Peer{Name: host}, nil
	}
	if err != nil {
		return Endpoint{}, err
	}
	ports, err := ParsePorts(s[colon+1:])
	if err != nil {
		return Endpoint{}, err
	}
	return Endpoint{Peer: peer, Ports: ports}, nil
}

// ParseSize parses a byte count: a plain integer, or one with a suffix k M G T (powers of
// 1000) or Ki Mi Gi Ti (powers of 1024), as Kubernetes quantities are written.
func ParseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   float64
	}{{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40}, {"k", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}}
	num, mult := s, 1.0
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			num, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(num, 64)
	bytes := n * mult
	if err != nil || num == "" || strings.ContainsAny(num, "eE+-xXpP_nNiI") || !(bytes >= 1 && bytes <= math.MaxInt64/2) {
		return 0, fmt.Errorf("expected a size such as 256Mi, 1Gi or 500M, found %q", s)
	}
	return int64(bytes), nil
}

// ParseUser parses run.user: USER or USER:GROUP, each a number or a name ("redis",
// "1000:1000", "postgres:ssl-cert"). Names are returned as written, never looked up:
// validation does not read the host's /etc/passwd, and the sandbox resolves them in its
// own when the component starts. A missing GROUP equals a numeric USER, and is a named
// user's primary group.
func ParseUser(s string) (User, error) {
	u, g, hasGroup := strings.Cut(s, ":")
	var out User
	var ok1, ok2 bool
	out.UID, out.Name, ok1 = idOrName(u)
	switch {
	case !hasGroup && out.Name == "":
		out.GID, ok2 = out.UID, true
	case !hasGroup:
		ok2 = true // the user's primary group, from /etc/passwd
	default:
		out.GID, out.Group, ok2 = idOrName(g)
	}
	if !ok1 || !ok2 {
		return User{}, fmt.Errorf("expected a user name or UID, optionally :GROUP or :GID (e.g. redis, 1000:1000, postgres:ssl-cert), found %q", s)
	}
	return out, nil
}

// User is a parsed run.user: Name and Group, when set, stand for UID and GID, which are
// then 0 until the sandbox resolves them.
type User struct {
	UID, GID    uint32
	Name, Group string
}

// idOrName reads one side of run.user: a number, or a name useradd(8) accepts.
func idOrName(s string) (uint32, string, bool) {
	if id, err := parseID(s); err == nil {
		return id, "", true
	}
	if groupName().MatchString(s) && !strings.HasSuffix(s, "$") {
		return 0, s, true
	}
	return 0, "", false
}

func parseID(s string) (uint32, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n == math.MaxUint32 { // (uid_t)-1 means "no change" to setuid(2)
		return 0, fmt.Errorf("bad id %q", s)
	}
	return uint32(n), nil
}

// validName reports whether s can name a component: it becomes a hostname, a cgroup and
// an nftables identifier, so lowercase letters, digits and inner hyphens, at most 32.
func validName(s string) bool {
	if len(s) == 0 || len(s) > 32 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// checkPath reports why p is not an absolute, clean path, or "" when it is.
func checkPath(p string) string {
	switch {
	case p == "":
		return "expected an absolute path, found an empty string"
	case !path.IsAbs(p):
		return fmt.Sprintf("expected an absolute path, found %q", p)
	case path.Clean(p) != p:
		return fmt.Sprintf("expected a clean path (%q), found %q", path.Clean(p), p)
	case hasControl(p):
		return fmt.Sprintf("path %q contains a control character", p)
	}
	return ""
}

// within reports whether p is dir or lies under it.
func within(p, dir string) bool {
	return p == dir || dir == "/" || strings.HasPrefix(p, dir+"/")
}
