package policy

import (
	"fmt"
	"net/netip"
	"strings"
)

// validateStack checks the stack file itself: name, subnet, members, published ports.
func validateStack(s *Stack, idx *flowIndex, errs *ErrorList) {
	add := func(path, format string, args ...any) { errs.Add(s.pos.at(path), path, format, args...) }
	if s.Version != 1 {
		add("version", "expected version: 1, found %d", s.Version)
	}
	if !validName(s.Name) {
		add("name", "expected a name of lowercase letters, digits and inner hyphens (at most 32), found %q", s.Name)
	}
	if len(s.Components) == 0 {
		add("components", "expected components: a list of component policy files")
	}
	if _, err := stackSubnet(s.Subnet, len(s.Components)); err != nil {
		add("subnet", "%v", err)
	}
	files := map[string]int{}
	for i, f := range s.Components {
		if j, dup := files[f]; dup {
			add(fmt.Sprintf("components[%d]", i), "%s is already listed at components[%d]", f, j)
		}
		files[f] = i
	}
	names := map[string]*Component{}
	for _, c := range s.Members {
		if prev, dup := names[c.Name]; dup && c.Name != "" {
			errs.Add(c.pos.at("name"), "name", "component name %q is already used by %s", c.Name, prev.pos.at("name"))
		}
		names[c.Name] = c
	}
	hostPorts := map[string]int{}
	for i := range s.Publish {
		field := fmt.Sprintf("publish[%d]", i)
		pub, err := s.publish[i].v, s.publish[i].err
		if err != nil {
			add(field, "%v", err)
			continue
		}
		if j, dup := hostPorts[pub.Host.String()]; dup {
			add(field, "%s is already published by publish[%d]", pub.Host, j)
		}
		hostPorts[pub.Host.String()] = i
		c, ok := names[pub.Target.Peer.Component]
		if !ok {
			add(field, "unknown component %q%s", pub.Target.Peer.Component, memberHint(*errs, pub.Target.Peer.Component, memberNames(s)))
			continue
		}
		if j := idx.listenFor(c, pub.Target.Ports); j < 0 || !idx.from(c, j)["host"] {
			add(field, "%s does not listen on %s with \"host\" in from (%s)", c.Name, pub.Target.Ports, c.pos.at("network.listen"))
		}
	}
}

// stackSubnet parses a stack's IPv4 subnet and checks it holds the bridge and n components.
func stackSubnet(s string, n int) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	switch {
	case s == "":
		return p, fmt.Errorf("expected subnet: a private IPv4 CIDR such as 10.88.0.0/24")
	case err != nil || !p.Addr().Is4():
		return p, fmt.Errorf("expected a private IPv4 CIDR such as 10.88.0.0/24, found %q", s)
	case p.Masked() != p:
		return p, fmt.Errorf("subnet %q has host bits set; expected %s", s, p.Masked())
	case !p.Addr().IsPrivate():
		return p, fmt.Errorf("subnet %s is not private (10/8, 172.16/12, 192.168/16); the stack's addresses must not shadow real ones", s)
	case p.Bits() > 30 || (1<<(32-p.Bits()))-3 < n:
		return p, fmt.Errorf("subnet %s is too small for a bridge and %d components", s, n)
	}
	return p, nil
}

// Publish is a parsed "HOSTADDR:PORT -> component:PORT/PROTO".
type Publish struct {
	Host   netip.AddrPort
	Target Endpoint
}

// ParsePublish parses one publish entry.
func ParsePublish(s string) (Publish, error) {
	host, target, ok := strings.Cut(s, "->")
	if !ok {
		return Publish{}, fmt.Errorf("expected \"HOSTADDR:PORT -> component:PORT/PROTO\", found %q", s)
	}
	hp, err := netip.ParseAddrPort(strings.TrimSpace(host))
	if err != nil || hp.Port() == 0 || !hp.Addr().Is4() {
		return Publish{}, fmt.Errorf("expected an IPv4 host address and port such as 127.0.0.1:8080, found %q", strings.TrimSpace(host))
	}
	ep, err := ParseEndpoint(strings.TrimSpace(target))
	if err != nil {
		return Publish{}, err
	}
	if ep.Peer.Component == "" || ep.Ports.First != ep.Ports.Last {
		return Publish{}, fmt.Errorf("expected a component and one port such as frontend:8080/tcp, found %q", strings.TrimSpace(target))
	}
	return Publish{Host: hp, Target: ep}, nil
}

// An "unknown component" error lists the stack's members and offers the closest name.
// In a large stack with many such errors both would cost the stack's size per error, so
// the list stops at maxListedMembers and hints stop after maxHintedErrors errors, as
// syscall name hints do.
const (
	maxListedMembers = 20
	maxHintedErrors  = 100
)

// stackHas lists the members for an "unknown component" error.
func stackHas(names []string) string {
	if len(names) <= maxListedMembers {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s, … (%d in all)", strings.Join(names[:maxListedMembers], ", "), len(names))
}

// memberHint is suggest(got, names) while errs is short.
func memberHint(errs ErrorList, got string, names []string) string {
	if len(errs) >= maxHintedErrors {
		return ""
	}
	return suggest(got, names)
}

// memberSet is the set of names.
func memberSet(names []string) map[string]bool {
	set := make(map[string]bool, len(names))
	for _, n := range names {
		set[n] = true
	}
	return set
}

func memberNames(s *Stack) []string {
	var names []string
	for _, c := range s.Members {
		names = append(names, c.Name)
	}
	return names
}

// listenFor returns the listen entry of c that covers ports, if any. It is a pass over
// c's listen list; flowIndex.listenFor answers the same from an index.
func listenFor(c *Component, ports PortRange) (int, *Listen) {
	for i := range c.Network.Listen {
		if l := &c.Network.Listen[i]; l.ports.err == nil && l.ports.v.Covers(ports) {
			return i, l
		}
	}
	return -1, nil
}

// validateFlows enforces two-sided declarations: a caller's connect to a component needs
// the callee's listen.from to name the caller, and every component a listen.from names
// must connect to that port. Each error names both files.
func validateFlows(s *Stack, idx *flowIndex, errs *ErrorList) {
	byName := map[string]*Component{}
	for _, c := range s.Members {
		byName[c.Name] = c
	}
	names := memberNames(s)
	subnet, _ := stackSubnet(s.Subnet, len(s.Members))
	// inStack refuses addresses of the stack's own subnet: a flow between members must
	// name the member, so that both sides declare it.
	inStack := func(c *Component, field string, p Peer) bool {
		if p.Component == "" && subnet.IsValid() && p.Prefix.Overlaps(subnet) {
			errs.Add(c.pos.at(field), field, "%s overlaps the stack's subnet %s; name the component instead, so that both sides declare the flow", p, subnet)
			return true
		}
		return false
	}
	for _, c := range s.Members {
		for i, conn := range c.Network.Connect {
			field := fmt.Sprintf("network.connect[%d].to", i)
			ep, err := conn.to.v, conn.to.err
			if err != nil || inStack(c, field, ep.Peer) || ep.Peer.Component == "" {
				continue
			}
			callee, ok := byName[ep.Peer.Component]
			switch {
			case !ok:
				errs.Add(c.pos.at(field), field, "unknown component %q%s; the stack has: %s", ep.Peer.Component, memberHint(*errs, ep.Peer.Component, names), stackHas(names))
				continue
			case callee == c:
				errs.Add(c.pos.at(field), field, "%s connects to itself; its own loopback needs no declaration", c.Name)
				continue
			}
			j := idx.listenFor(callee, ep.Ports)
			if j < 0 {
				errs.Add(c.pos.at(field), field, "%s connects to %s, but %s does not listen on %s (%s)", c.Name, ep, callee.Name, ep.Ports, callee.pos.at("network"))
				continue
			}
			if !idx.from(callee, j)[c.Name] {
				lf := fmt.Sprintf("network.listen[%d].from", j)
				errs.Add(c.pos.at(field), field, "%s connects to %s, but %s's listen.from does not name %s (%s)", c.Name, ep, callee.Name, c.Name, callee.pos.at(lf))
			}
		}
		for i, l := range c.Network.Listen {
			ports, err := l.ports.v, l.ports.err
			if err != nil {
				continue
			}
			for j, from := range l.From {
				field := fmt.Sprintf("network.listen[%d].from[%d]", i, j)
				peer, err := l.from[j].v, l.from[j].err
				if from == "host" || err != nil || inStack(c, field, peer) || peer.Component == "" {
					continue
				}
				caller, ok := byName[peer.Component]
				if !ok {
					errs.Add(c.pos.at(field), field, "unknown component %q%s; the stack has: %s", from, memberHint(*errs, from, names), stackHas(names))
					continue
				}
				if !idx.connectsTo(caller, c.Name, ports) {
					errs.Add(c.pos.at(field), field, "%s accepts %s on %s, but %s does not connect to %s:%s (%s)", c.Name, caller.Name, ports, caller.Name, c.Name, ports, caller.pos.at("network"))
				}
			}
		}
	}
}
