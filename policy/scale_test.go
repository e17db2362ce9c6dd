package policy

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/confine-sandbox/confine/policy/plan"
)

// The indexes that keep validate and compile linear must answer exactly what the
// passes over whole lists they replace answered; each test here holds one to a plain
// pass, on random inputs dense enough to overlap often.

func randPeer(r *rand.Rand) Peer {
	if r.IntN(3) == 0 {
		return Peer{Component: []string{"a", "b", "c"}[r.IntN(3)]}
	}
	addr := netip.AddrFrom4([4]byte{10, byte(r.IntN(2)), byte(r.IntN(3)), byte(r.IntN(3))})
	return Peer{Prefix: netip.PrefixFrom(addr, []int{8, 16, 24, 32}[r.IntN(4)]).Masked()}
}

func TestFirstOverlapsMatchesPairs(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 300; round++ {
		shared := round%3 == 0 // one peer for all, as listen ports are checked
		var es []span
		for i := 0; i < 1+r.IntN(3*smallList); i++ {
			lo := uint32(r.IntN(30))
			e := span{lo: lo, hi: lo + uint32(r.IntN(5))}
			if !shared {
				e.peer = randPeer(r)
			}
			es = append(es, e)
		}
		got := firstOverlaps(es)
		for i, e := range es {
			want := -1
			for j := 0; j < i && want < 0; j++ {
				if (shared || peersOverlap(e.peer, es[j].peer)) && e.lo <= es[j].hi && es[j].lo <= e.hi {
					want = j
				}
			}
			if got[i] != want {
				t.Fatalf("round %d: entry %d %+v: first overlap %d, want %d (entries %+v)", round, i, e, got[i], want, es)
			}
		}
	}
}

func TestListenIndexMatchesScan(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for round := 0; round < 200; round++ {
		c := &Component{}
		for i := 0; i < r.IntN(30); i++ {
			first := uint16(1 + r.IntN(40))
			pr := PortRange{Proto: []string{"tcp", "udp"}[r.IntN(2)], First: first, Last: first + uint16(r.IntN(10))}
			l := Listen{Port: pr.String(), ports: parsed[PortRange]{v: pr}}
			if r.IntN(10) == 0 {
				l.ports.err = fmt.Errorf("bad")
			}
			c.Network.Listen = append(c.Network.Listen, l)
		}
		idx := &flowIndex{}
		for q := 0; q < 50; q++ {
			first := uint16(1 + r.IntN(50))
			ports := PortRange{Proto: []string{"tcp", "udp"}[r.IntN(2)], First: first, Last: first + uint16(r.IntN(4))}
			want, _ := listenFor(c, ports)
			if got := idx.listenFor(c, ports); got != want {
				t.Fatalf("round %d: listen for %s: %d, want %d", round, ports, got, want)
			}
		}
	}
}

func TestConnectsToMatchesScan(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for round := 0; round < 200; round++ {
		c := &Component{}
		for i := 0; i < r.IntN(30); i++ {
			first := uint16(1 + r.IntN(40))
			ep := Endpoint{Peer: randPeer(r), Ports: PortRange{Proto: []string{"tcp", "udp"}[r.IntN(2)], First: first, Last: first + uint16(r.IntN(10))}}
			c.Network.Connect = append(c.Network.Connect, Connect{To: ep.String(), to: parsed[Endpoint]{v: ep}})
		}
		idx := &flowIndex{}
		for q := 0; q < 50; q++ {
			callee := []string{"a", "b", "c"}[r.IntN(3)]
			first := uint16(1 + r.IntN(50))
			ports := PortRange{Proto: []string{"tcp", "udp"}[r.IntN(2)], First: first, Last: first + uint16(r.IntN(4))}
			want := false
			for _, conn := range c.Network.Connect {
				want = want || conn.to.v.Peer.Component == callee && ports.Overlaps(conn.to.v.Ports)
			}
			if got := idx.connectsTo(c, callee, ports); got != want {
				t.Fatalf("round %d: connects to %s:%s: %v, want %v", round, callee, ports, got, want)
			}
		}
	}
}

func TestPathTreeMatchesWithin(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	parts := []string{"a", "b", "ab", "a.b"}
	randPath := func() string {
		p := ""
		for i := 0; i < r.IntN(4); i++ {
			p += "/" + parts[r.IntN(len(parts))]
		}
		return or(p, "/")
	}
	for round := 0; round < 300; round++ {
		var list []string
		for i := 0; i < r.IntN(12); i++ {
			list = append(list, []string{randPath(), randPath(), "", "a", "/a/", "//a"}[r.IntN(6)])
		}
		tree := newPathTree(list)
		for q := 0; q < 20; q++ {
			p := randPath()
			var want, got []string
			for _, d := range list {
				if within(p, d) && !slices.Contains(want, d) {
					want = append(want, d)
				}
			}
			tree.holders(p, func(d string) { got = append(got, d) })
			sort.Strings(want)
			sort.Strings(got)
			if !slices.Equal(got, want) {
				t.Fatalf("round %d: %s lies within %q of %q, want %q", round, p, got, list, want)
			}
		}
	}
}

// addFlowScan is the pass over every flow that publishFlows replaces.
func addFlowScan(flows []plan.Flow, f plan.Flow) []plan.Flow {
	covers := func(a, b string) bool {
		pa, err1 := netip.ParsePrefix(a)
		pb, err2 := netip.ParsePrefix(b)
		return err1 == nil && err2 == nil && pa.Bits() <= pb.Bits() && pa.Contains(pb.Addr())
	}
	for _, g := range flows {
		if g.Set == f.Set && g.Proto == f.Proto && g.First <= f.First && f.Last <= g.Last && covers(g.Src, f.Src) && covers(g.Dst, f.Dst) {
			return flows
		}
	}
	return append(flows, f)
}

func TestPublishFlowsMatchScan(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	host := func() string { return fmt.Sprintf("10.0.%d.%d/32", r.IntN(2), r.IntN(3)) }
	for round := 0; round < 300; round++ {
		var flows []plan.Flow
		for i := 0; i < r.IntN(20); i++ {
			src := []string{host(), "10.0.0.0/16", "10.0.1.0/24", "0.0.0.0/0"}[r.IntN(4)]
			first := uint16(1 + r.IntN(10))
			flows = append(flows, plan.Flow{Set: []string{"ingress", "flows"}[r.IntN(2)], Src: src, Dst: host(), Proto: []string{"tcp", "udp"}[r.IntN(2)], First: first, Last: first + uint16(r.IntN(5)), Why: fmt.Sprint(i)})
		}
		want := slices.Clone(flows)
		pf := newPublishFlows(slices.Clone(flows))
		for i := 0; i < r.IntN(20); i++ {
			port := uint16(1 + r.IntN(12))
			f := plan.Flow{Set: []string{"ingress", "flows"}[r.IntN(2)], Src: host(), Dst: host(), Proto: []string{"tcp", "udp"}[r.IntN(2)], First: port, Last: port, Why: fmt.Sprint("publish ", i)}
			want = addFlowScan(want, f)
			pf.add(f)
		}
		if !reflect.DeepEqual(pf.flows, want) {
			t.Fatalf("round %d:\n got %v\nwant %v", round, pf.flows, want)
		}
	}
}

// seccompRuleSetScan is seccompRuleSet as it was written before altSet: every
// alternative compared with every other by its altKey (then widened as widen does).
func seccompRuleSetScan(sc Syscalls, groups map[string][]string) []plan.SeccompRule {
	addAlt := func(alts []alt, conds alt) []alt {
		for _, a := range alts {
			if len(a) == 0 || altKey(a) == altKey(conds) {
				return alts
			}
		}
		if len(conds) == 0 {
			return []alt{{}}
		}
		return append(alts, conds)
	}
	allowed := map[string][]alt{}
	errnoOf := map[string]int{}
	for _, r := range sc.Allow {
		for _, name := range expandNames(r.Names, groups) {
			allowed[name] = addAlt(allowed[name], argConds(r.Args))
		}
	}
	var denies []plan.SeccompRule
	denyErrno := map[string]int{}
	for _, r := range sc.Deny {
		conds := argConds(r.Args)
		errno := errnos[or(r.Errno, "EACCES")]
		for _, name := range expandNames(r.Names, groups) {
			if len(conds) == 0 {
				delete(allowed, name)
				if r.Errno != "" {
					errnoOf[name] = errno
				}
				continue
			}
			key := name + "/" + altKey(conds)
			if _, seen := denyErrno[key]; !seen {
				denies = append(denies, plan.SeccompRule{Syscalls: []string{name}, Action: "errno", Args: conds})
			}
			denyErrno[key] = errno
		}
	}
	kept := denies[:0]
	keep := func(d plan.SeccompRule) bool { // a deny of a syscall no longer allowed that still fails its calls
		_, all := errnoOf[d.Syscalls[0]]
		return !all && (sc.OnViolation == "log" || sc.OnViolation == "kill" || d.Errno != errnos["EACCES"])
	}
	for _, d := range denies {
		name := d.Syscalls[0]
		d.Errno = denyErrno[name+"/"+altKey(d.Args)]
		alts := slices.DeleteFunc(allowed[name], func(a alt) bool { return altKey(a) == altKey(d.Args) })
		if len(alts) == 0 {
			delete(allowed, name)
			if keep(d) {
				kept = append(kept, d)
			}
			continue
		}
		for i, a := range alts {
			if len(a) == 0 || a[0].Index != 0 {
				alts[i] = append(alt{{Index: 0, Op: "ge", Value: 0}}, a...)
			}
		}
		allowed[name] = alts
		kept = append(kept, d)
	}
	// Then each syscall's alternatives are widened against all its denies.
	denied := map[string][]alt{}
	for _, d := range kept {
		denied[d.Syscalls[0]] = append(denied[d.Syscalls[0]], d.Args)
	}
	for name, ds := range denied {
		var alts []alt
		for _, a := range allowed[name] {
			if w, ok := widenAlt(a, ds); ok && !slices.ContainsFunc(alts, func(b alt) bool { return altKey(b) == altKey(w) }) {
				alts = append(alts, w)
			}
		}
		allowed[name] = alts
		if len(alts) == 0 {
			delete(allowed, name)
			kept = slices.DeleteFunc(kept, func(d plan.SeccompRule) bool { return d.Syscalls[0] == name && !keep(d) })
		}
	}
	return seccompRules(maps.All(allowed), len(allowed), kept, errnoOf)
}

func TestSeccompRuleSetMatchesScan(t *testing.T) {
	groups, err := syscallGroups()
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(11, 12))
	rule := func() SyscallRule {
		// Names that groups repeat (read, close), and two groups that share members.
		names := []string{"ioctl", "socket", "read", "@timer", "close", "@basic-io", "@default-base"}
		sr := SyscallRule{Names: []string{names[r.IntN(len(names))]}}
		if r.IntN(3) == 0 {
			sr.Names = append(sr.Names, names[r.IntN(len(names))])
		}
		for _, i := range []int{0, 1} {
			if r.IntN(2) == 0 {
				v := uint64(r.IntN(2))
				sr.Args = append(sr.Args, ArgCond{Index: i, Op: []string{"eq", "ge"}[r.IntN(2)], value: parsed[uint64]{v: v}})
			}
		}
		if r.IntN(4) == 0 {
			sr.Errno = "ENOSYS"
		}
		return sr
	}
	for round := 0; round < 2000; round++ {
		sc := Syscalls{OnViolation: []string{"", "errno", "kill", "log"}[r.IntN(4)]}
		for i := 0; i < r.IntN(12); i++ {
			sc.Allow = append(sc.Allow, rule())
		}
		for i := 0; i < r.IntN(6); i++ {
			sc.Deny = append(sc.Deny, rule())
		}
		got, want := seccompRuleSet(sc, groups), seccompRuleSetScan(sc, groups)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("round %d: rules differ for %+v:\n got %v\nwant %v", round, sc, got, want)
		}
	}
}

// An entry that overlaps several before it is reported once, naming the first, at the
// index it has in the file ("host" and bad entries before it count).
func TestOverlapNamesFirstEarlierEntry(t *testing.T) {
	src := strings.Replace(base, "from: [10.0.0.0/8]", "from: [host, 10.0.0.0/8, 10.1.0.0/16, 10.1.2.3]\n    - port: 8000-8100/tcp\n      from: [host]\n    - port: 8080/tcp\n      from: [host]", 1)
	got := checkYAML(t, map[string]string{"c.yaml": src}, "c.yaml")
	for _, want := range []string{
		"network.listen[0].from[2]: 10.1.0.0/16 overlaps 10.0.0.0/8 at network.listen[0].from[1]; list each source once",
		"network.listen[0].from[3]: 10.1.2.3 overlaps 10.0.0.0/8 at network.listen[0].from[1]; list each source once",
		"network.listen[1].port: 8000-8100/tcp overlaps 8080/tcp, listed earlier",
		"network.listen[2].port: 8080/tcp overlaps 8080/tcp, listed earlier",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "overlaps"); n != 4 {
		t.Errorf("%d overlap errors, want 4 (one per entry):\n%s", n, got)
	}
}

// peersOverlap is the pairwise test firstOverlaps replaces: can two peers name the same address?
func peersOverlap(a, b Peer) bool {
	if a.Component != "" || b.Component != "" {
		return a.Component == b.Component
	}
	return a.Prefix.Overlaps(b.Prefix)
}

// A filter longer than the kernel loads is refused at compile time, naming the limit,
// and one just under it compiles.
func TestSeccompFilterTooLong(t *testing.T) {
	src := func(n int) string {
		var sb strings.Builder
		sb.WriteString(benchHead + "extends: [service]\nfilesystem: {read: [/app]}\nsyscalls:\n  allow:\n")
		for i := 0; i < n; i++ {
			fmt.Fprintf(&sb, "    - {names: [io_uring_setup], args: [{index: 1, op: eq, value: %d}]}\n", i)
		}
		return sb.String()
	}
	for _, c := range []struct {
		n    int
		want string
	}{{490, ""}, {5000, "more than the 512 confine compiles"}} { // the condition bound comes first
		s, err := Open(fstest.MapFS{"c.yaml": {Data: []byte(src(c.n))}}, "c.yaml")
		if err != nil {
			t.Fatal(err)
		}
		_, err = Compile(s)
		if got := fmt.Sprint(err); c.want == "" && err != nil || c.want != "" && !strings.Contains(got, c.want) {
			t.Errorf("%d conditions: error %v, want %q", c.n, err, c.want)
		}
	}
}
