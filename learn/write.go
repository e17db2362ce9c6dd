package learn

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/confine-sandbox/confine/policy"
)

// writeFilesystem lays the learned and the old paths into m's filesystem lists, leaving
// out what another entry already makes readable or writable.
func writeFilesystem(m, old *yaml.Node, files fileNeeds) {
	fs := child(m, "filesystem")
	oldFS := get(old, "filesystem")
	lists := map[string][]*yaml.Node{}
	have := map[string]bool{}
	for _, k := range []string{"tmpfs", "write", "read"} {
		for _, e := range items(fs, k) {
			lists[k] = append(lists[k], e)
			have[entryPath(e)] = true
		}
	}
	for _, k := range []string{"tmpfs", "write", "read"} {
		for _, e := range items(oldFS, k) {
			if p := entryPath(e); p != "" && !have[p] {
				lists[k] = append(lists[k], clone(e))
				have[p] = true
			}
		}
	}
	for _, e := range files.write {
		if !have[e.path] {
			lists["write"] = append(lists["write"], commented(scalar(e.path), e.note))
			have[e.path] = true
		}
	}
	for _, e := range files.read {
		if !have[e.path] {
			lists["read"] = append(lists["read"], commented(scalar(e.path), e.note))
			have[e.path] = true
		}
	}
	writable := paths(lists["tmpfs"])
	for _, b := range items(fs, "bind") {
		if w := get(b, "write"); w != nil && w.Value == "true" {
			if t := get(b, "target"); t != nil {
				writable = append(writable, t.Value)
			}
		}
	}
	lists["write"] = dropUnder(lists["write"], paths(lists["tmpfs"]))
	writable = append(writable, paths(lists["write"])...)
	lists["read"] = dropUnder(lists["read"], writable)
	lists["read"] = dropNested(lists["read"])
	for _, k := range []string{"read", "write", "tmpfs"} {
		sortByPath(lists[k])
		setOrDrop(fs, k, lists[k])
	}
	if len(fs.Content) == 0 {
		del(m, "filesystem")
	}
}

func paths(es []*yaml.Node) []string {
	var out []string
	for _, e := range es {
		out = append(out, entryPath(e))
	}
	return out
}

// dropUnder removes the entries that are one of dirs or lie inside one.
func dropUnder(es []*yaml.Node, dirs []string) []*yaml.Node {
	var out []*yaml.Node
	for _, e := range es {
		if under(entryPath(e), dirs) == "" {
			out = append(out, e)
		}
	}
	return out
}

func sortByPath(es []*yaml.Node) {
	sort.SliceStable(es, func(i, j int) bool { return entryPath(es[i]) < entryPath(es[j]) })
}

// writeNetwork adds the ports bound (served to the host: from: [host], which a stack's
// publish reaches) and the destinations connected.
func writeNetwork(m, old *yaml.Node, s *Seen) {
	net := child(m, "network")
	oldNet := get(old, "network")
	listen := append([]*yaml.Node{}, items(net, "listen")...)
	var ranges []policy.PortRange
	rangeOf := func(e *yaml.Node) (policy.PortRange, bool) {
		p, err := policy.ParsePorts(get(e, "port").Value)
		return p, err == nil
	}
	for _, e := range listen {
		if r, ok := rangeOf(e); ok {
			ranges = append(ranges, r)
		}
	}
	overlaps := func(r policy.PortRange) bool {
		for _, q := range ranges {
			if q.Overlaps(r) {
				return true
			}
		}
		return false
	}
	for _, e := range items(oldNet, "listen") {
		if r, ok := rangeOf(e); ok && !overlaps(r) {
			listen, ranges = append(listen, clone(e)), append(ranges, r)
		}
	}
	for _, p := range sortedPorts(s.Listen) {
		r, _ := policy.ParsePorts(p)
		if overlaps(r) {
			continue
		}
		e := mapping(scalar("port"), scalar(p), scalar("from"), flowSeq(scalar("host")))
		e.Style = yaml.FlowStyle
		listen, ranges = append(listen, commented(e, "bound "+times(s.Listen[p]))), append(ranges, r)
	}
	setOrDrop(net, "listen", listen)

	connect := append([]*yaml.Node{}, items(net, "connect")...)
	have := map[string]bool{}
	for _, e := range connect {
		have[canon(e)] = true
	}
	for _, e := range items(oldNet, "connect") {
		if !have[canon(e)] {
			have[canon(e)] = true
			connect = append(connect, clone(e))
		}
	}
	for _, to := range sortedKeys(s.Connect) {
		e := mapping(scalar("to"), scalar(to))
		e.Style = yaml.FlowStyle
		if !have[canon(e)] {
			have[canon(e)] = true
			connect = append(connect, commented(e, connectNote(to, s.Connect[to])))
		}
	}
	setOrDrop(net, "connect", connect)
	if len(net.Content) == 0 {
		del(m, "network")
	}
}

// sortedPorts orders "PORT/PROTO" keys by protocol, then port number.
func sortedPorts(m map[string]int) []string {
	keys := sortedKeys(m)
	sort.SliceStable(keys, func(i, j int) bool {
		a, _ := policy.ParsePorts(keys[i])
		b, _ := policy.ParsePorts(keys[j])
		if a.Proto != b.Proto {
			return a.Proto < b.Proto
		}
		return a.First < b.First
	})
	return keys
}

// writeCapabilities lists the capabilities granted, folded in and seen used, sorted.
func writeCapabilities(m, old *yaml.Node, s *Seen) {
	caps := map[string]*yaml.Node{}
	for _, src := range [][]*yaml.Node{items(m, "capabilities"), items(old, "capabilities")} {
		for _, e := range src {
			if n := policy.NormalizeCap(e.Value); caps[n] == nil {
				caps[n] = scalar(n)
			}
		}
	}
	for _, n := range sortedKeys(s.Caps) {
		c := s.Caps[n]
		note := "needed " + times(c.Count)
		if len(c.From) > 0 {
			note += ": " + strings.Join(sortedKeys(c.From), "; ")
		}
		if caps[n] == nil {
			caps[n] = scalar(n)
		}
		commented(caps[n], note)
	}
	var list []*yaml.Node
	for _, n := range sortedKeys(caps) {
		list = append(list, caps[n])
	}
	setOrDrop(m, "capabilities", list)
}

// writeSyscalls replaces m's syscalls with the learned allowlist over the learned
// profile, keeping the run's deny rules and on_violation.
func writeSyscalls(m *yaml.Node, oldPolicy *policy.Component, s *Seen) error {
	own := get(m, "syscalls")
	// The run's own allows (not its profile's, which the learned policy extends too).
	granted, _ := allowed(ownAllow(own))
	// The observed syscalls were allowed for audit mode to watch them: they count as used
	// only where a record names them.
	granted = slices.DeleteFunc(granted, func(n string) bool { return slices.Contains(policy.ObservedSyscalls(), n) })
	var older []string
	var oldRules []policy.SyscallRule
	if oldPolicy != nil {
		older, oldRules = allowed(oldPolicy.Syscalls.Allow)
	}
	profile, err := profileAllows(LearnedProfile)
	if err != nil {
		return err
	}
	entries := foldSyscalls(s.Syscalls, granted, older, profile)
	plain := map[string]bool{}
	for _, n := range append(granted, older...) {
		plain[n] = true
	}
	var allow []*yaml.Node
	have := map[string]bool{}
	for _, e := range entries {
		n := entryNode(e)
		have[canon(n)] = true
		allow = append(allow, n)
		if e.cond == nil {
			for _, n := range append(policy.GroupMembers(e.name), e.name) {
				plain[n] = true
			}
		}
	}
	for _, r := range oldRules {
		if n := ruleNode(r, plain); n != nil && !have[canon(n)] {
			have[canon(n)] = true
			allow = append(allow, commented(n, "from the merged policy"))
		}
	}
	sc := mapping(scalar("extends"), scalar(LearnedProfile))
	if ov := get(own, "on_violation"); ov != nil {
		set(sc, "on_violation", clone(ov))
	}
	setOrDrop(sc, "allow", allow)
	if deny := items(own, "deny"); len(deny) > 0 {
		set(sc, "deny", clone(get(own, "deny")))
	}
	set(m, "syscalls", sc)
	return nil
}

// allowed splits allow rules into the names they allow whatever the arguments (groups
// expanded) and the rules with conditions.
func allowed(rules []policy.SyscallRule) (names []string, conditional []policy.SyscallRule) {
	for _, r := range rules {
		if len(r.Args) > 0 {
			conditional = append(conditional, r)
			continue
		}
		for _, n := range r.Names {
			if strings.HasPrefix(n, "@") {
				names = append(names, policy.GroupMembers(n)...)
			} else {
				names = append(names, n)
			}
		}
	}
	return names, conditional
}

func entryNode(e syscallEntry) *yaml.Node {
	if e.cond == nil {
		return commented(scalar(e.name), e.note)
	}
	c := mapping(scalar("index"), intScalar(e.cond.index), scalar("op"), scalar(e.cond.op))
	if e.cond.mask != "" {
		set(c, "mask", scalar(e.cond.mask))
	}
	set(c, "value", scalar(e.cond.value))
	c.Style = yaml.FlowStyle
	n := mapping(scalar("names"), flowSeq(scalar(e.name)), scalar("args"), flowSeq(c))
	n.Style = yaml.FlowStyle
	return commented(n, e.note)
}

// ruleNode writes an old conditional rule again, for the names not allowed outright.
func ruleNode(r policy.SyscallRule, plain map[string]bool) *yaml.Node {
	names := flowSeq()
	for _, n := range r.Names {
		if !plain[n] {
			names.Content = append(names.Content, scalar(n))
		}
	}
	if len(names.Content) == 0 {
		return nil
	}
	args := flowSeq()
	for _, a := range r.Args {
		c := mapping(scalar("index"), intScalar(a.Index), scalar("op"), scalar(a.Op))
		if a.Mask != "" {
			set(c, "mask", scalar(a.Mask))
		}
		set(c, "value", scalar(a.Value))
		c.Style = yaml.FlowStyle
		args.Content = append(args.Content, c)
	}
	n := mapping(scalar("names"), names, scalar("args"), args)
	n.Style = yaml.FlowStyle
	return n
}

// dropNested removes plain read entries inside another read entry (an {path, idmap}
// entry stays: it says how the path is shown).
func dropNested(es []*yaml.Node) []*yaml.Node {
	var out []*yaml.Node
	for _, e := range es {
		p, inside := entryPath(e), false
		for _, o := range es {
			if q := entryPath(o); e.Kind == yaml.ScalarNode && q != p && under(p, []string{q}) != "" {
				inside = true
			}
		}
		if !inside {
			out = append(out, e)
		}
	}
	return out
}

func times(n int) string {
	if n == 1 {
		return "once"
	}
	return fmt.Sprintf("%d times", n)
}

func connectNote(to string, n int) string {
	what := "connection"
	if strings.HasSuffix(to, "/udp") {
		what = "datagram"
	}
	if n != 1 {
		what += "s"
	}
	return fmt.Sprintf("%d %s", n, what)
}

// ownAllow reads a syscalls section's own allow entries.
func ownAllow(sc *yaml.Node) []policy.SyscallRule {
	var out []policy.SyscallRule
	for _, e := range items(sc, "allow") {
		switch e.Kind {
		case yaml.ScalarNode:
			out = append(out, policy.SyscallRule{Names: []string{e.Value}})
		case yaml.MappingNode:
			var r policy.SyscallRule
			if e.Decode(&r) == nil {
				out = append(out, r)
			}
		}
	}
	return out
}

// profileAllows is a built-in profile's own plain allow names.
func profileAllows(name string) ([]string, error) {
	p, err := profileMapping(name)
	if err != nil {
		return nil, err
	}
	names, _ := allowed(ownAllow(get(p, "syscalls")))
	return names, nil
}
