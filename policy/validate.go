package policy

import (
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/syndtr/gocapability/capability"

	"github.com/confine-sandbox/confine/policy/seccomp"
)

// Mechanisms are what best_effort may name: enforcement that run skips, with a finding,
// when the kernel lacks it.
var Mechanisms = []string{"cgroups", "idmap", "landlock", "nftables"}

// Violation actions a policy may choose, and the seccomp action each compiles to.
var violationActions = map[string]string{"errno": "errno", "kill": "kill_process", "log": "log"}

var argOps = []string{"eq", "ne", "lt", "le", "gt", "ge", "masked_eq"}

var envKey = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`) })

// Check loads FILE (a component or a stack) and validates it, returning every error in
// every file it names, sorted. Validation errors at fields that failed to decode are left
// out: the decoding error already says what is wrong there.
func Check(fsys fs.FS, name string) ErrorList {
	s, err := Open(fsys, name)
	decoded := appendErr(nil, err)
	if s == nil {
		return decoded
	}
	errs := decoded
	at := map[[2]string]bool{} // file and path of each decoding error
	for _, d := range decoded {
		at[[2]string{d.Pos.File, d.Path}] = true
	}
	for _, e := range Validate(s) {
		if !covered(e, at) {
			errs = append(errs, e)
		}
	}
	errs.Sort()
	return errs
}

// covered reports whether a decoding error already stands at e's field or a parent of
// it (or at the whole file, path "").
func covered(e *Error, at map[[2]string]bool) bool {
	for p := e.Path; ; {
		if at[[2]string{e.Pos.File, p}] {
			return true
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			return at[[2]string{e.Pos.File, ""}]
		}
		p = p[:i]
	}
}

// Validate checks a loaded stack (or a single component opened as one) and returns every
// error, sorted. Profiles are merged to check the effective policy; positions name the
// files as written. Validation never reads the host.
func Validate(s *Stack) ErrorList {
	errs, _ := validate(s)
	return errs
}

// validate is Validate, also returning the members' effective policies by name when
// every member merged without errors.
func validate(s *Stack) (ErrorList, map[string]*Component) {
	effective := map[string]*Component{}
	merged := true // a later member that merges must not write to a nil map
	var errs ErrorList
	idx := &flowIndex{}
	if !s.IsSingle() {
		validateStack(s, idx, &errs)
	}
	ruleSets := map[string]*ruleSet{} // by syscallsKey: members mostly share them
	for _, c := range s.Members {
		v := &validator{c: c, errs: &errs, ruleSets: ruleSets}
		v.component()
		eff, merr := Effective(c)
		errs = append(errs, merr...)
		if len(merr) == 0 {
			v.effective(eff)
			effective[c.Name] = eff
		} else {
			merged = false
		}
	}
	if !s.IsSingle() {
		validateFlows(s, idx, &errs)
	}
	validateChannels(s, effective, &errs)
	validateDependsOn(s, &errs)
	errs.Sort()
	if !merged {
		effective = nil
	}
	return errs, effective
}

// validator checks one component file; its methods add errors at the file's positions.
type validator struct {
	c        *Component
	errs     *ErrorList
	ruleSets map[string]*ruleSet // by syscallsKey, or nil
}

func (v *validator) add(path, format string, args ...any) {
	v.errs.Add(v.c.pos.at(path), path, format, args...)
}

func (v *validator) component() {
	c := v.c
	if c.Version != 1 {
		v.add("version", "expected version: 1, found %d", c.Version)
	}
	if !validName(c.Name) {
		v.add("name", "expected a name of lowercase letters, digits and inner hyphens (at most 32), found %q", c.Name)
	}
	v.run()
	v.supervise()
	v.filesystem()
	v.binds()
	v.envSources()
	v.network()
	v.channels()
	v.syscalls()
	v.capabilities()
	v.resources()
	v.ids()
	v.image()
	if c.Mode != "" && c.Mode != ModeEnforce && c.Mode != ModeAudit {
		v.add("mode", "expected enforce or audit, found %q", c.Mode)
	}
	for i, m := range c.BestEffort {
		if !slices.Contains(Mechanisms, m) {
			v.add(fmt.Sprintf("best_effort[%d]", i), "unknown mechanism %q%s; expected one of: %s", m, suggest(m, Mechanisms), strings.Join(Mechanisms, ", "))
		}
	}
}

func (v *validator) run() {
	r := v.c.Run
	for i, a := range r.Command {
		if hasControl(a) {
			v.add(fmt.Sprintf("run.command[%d]", i), "contains a control character; expected printable text")
		}
	}
	for k, val := range r.Env {
		if hasControl(val) {
			v.add("run.env."+k, "value contains a control character; expected printable text")
		}
	}
	if len(r.Command) == 0 && r.Image == "" {
		v.add("run.command", "expected a command: a list whose first item is an absolute path")
	} else if len(r.Command) > 0 && checkPath(r.Command[0]) != "" {
		msg := checkPath(r.Command[0])
		v.add("run.command[0]", "%s", msg)
	}
	if r.User != "" {
		if err := r.user.err; err != nil {
			v.add("run.user", "%v", err)
		}
	}
	for k := range r.Env {
		if !envKey().MatchString(k) {
			v.add("run.env."+k, "expected an environment variable name ([A-Za-z_][A-Za-z0-9_]*), found %q", k)
		}
	}
	if r.Workdir != "" {
		if msg := checkPath(r.Workdir); msg != "" {
			v.add("run.workdir", "%s", msg)
		}
	}
	if r.Hostname != "" && !validName(r.Hostname) {
		v.add("run.hostname", "expected a hostname of lowercase letters, digits and inner hyphens, found %q", r.Hostname)
	}
}

func (v *validator) filesystem() {
	fs := v.c.Filesystem
	lists := []struct {
		key   string
		paths []string
	}{{"read", fs.Read}, {"write", fs.Write}, {"tmpfs", fs.Tmpfs}}
	first := map[string]string{} // path -> the field that listed it first
	for _, l := range lists {
		for i, p := range l.paths {
			field := fmt.Sprintf("filesystem.%s[%d]", l.key, i)
			if msg := checkPath(p); msg != "" {
				v.add(field, "%s", msg)
				continue
			}
			if p == "/" && l.key != "read" {
				v.add(field, "the whole filesystem cannot be %s; name the directories that need it", map[string]string{"write": "writable", "tmpfs": "a tmpfs"}[l.key])
				continue
			}
			if prev, ok := first[p]; ok {
				v.add(field, "%s is already listed at %s; list each path once", p, prev)
				continue
			}
			first[p] = field
		}
	}
	tmpfs, write := newPathTree(fs.Tmpfs), newPathTree(fs.Write)
	for _, l := range lists {
		for i, p := range l.paths {
			if checkPath(p) != "" {
				continue
			}
			field := fmt.Sprintf("filesystem.%s[%d]", l.key, i)
			for _, own := range []string{"/proc", "/dev"} {
				if within(p, own) {
					v.add(field, "%s lies inside %s, which confine mounts itself; it cannot be declared", p, own)
				}
			}
			if l.key == "tmpfs" {
				continue
			}
			tmpfs.holders(p, func(t string) {
				if t != "/" && p != t {
					v.add(field, "%s lies inside the tmpfs %s, which is mounted over it and would hide it", p, t)
				}
			})
		}
	}
	// A read path inside a write path or a tmpfs adds nothing and usually means a mistake.
	for i, r := range fs.Read {
		if checkPath(r) != "" {
			continue
		}
		for _, l := range []struct {
			key  string
			tree *pathTree
		}{{"write", write}, {"tmpfs", tmpfs}} {
			l.tree.holders(r, func(w string) {
				if w != "/" && r != w {
					v.add(fmt.Sprintf("filesystem.read[%d]", i), "%s lies inside %s, which filesystem.%s already makes writable", r, w, l.key)
				}
			})
		}
	}
}

// network checks ports, peers and endpoints. Overlaps are found by firstOverlaps, and
// each entry names the first entry before it that it overlaps.
func (v *validator) network() {
	n := v.c.Network
	var ports []span
	var portAt []int // the listen entry of each of ports
	for i, l := range n.Listen {
		field := fmt.Sprintf("network.listen[%d]", i)
		if err := l.ports.err; err != nil {
			v.add(field+".port", "%v", err)
		} else {
			lo, hi := portCoord(l.ports.v)
			ports, portAt = append(ports, span{lo: lo, hi: hi}), append(portAt, i)
		}
		if len(l.From) == 0 {
			v.add(field, "expected from: the components, addresses or CIDRs that may connect (or \"host\" for published ports)")
		}
		var peers []span
		var at []int
		for j, f := range l.From {
			if f == "host" {
				continue
			}
			if p, ok := v.peer(fmt.Sprintf("%s.from[%d]", field, j), f, l.from[j]); ok {
				peers, at = append(peers, span{peer: p}), append(at, j)
			}
		}
		// nftables interval sets refuse overlapping elements, and an overlap is redundant.
		for k, e := range firstOverlaps(peers) {
			if e >= 0 {
				v.add(fmt.Sprintf("%s.from[%d]", field, at[k]), "%s overlaps %s at %s.from[%d]; list each source once", peers[k].peer, peers[e].peer, field, at[e])
			}
		}
	}
	for k, e := range firstOverlaps(ports) {
		if e >= 0 {
			v.add(fmt.Sprintf("network.listen[%d].port", portAt[k]), "%s overlaps %s, listed earlier", n.Listen[portAt[k]].ports.v, n.Listen[portAt[e]].ports.v)
		}
	}
	var eps []span
	var at []int
	for i, c := range n.Connect {
		if c.Unix != "" {
			continue // channels.go
		}
		p, ok := v.peer(fmt.Sprintf("network.connect[%d].to", i), c.To, parsed[Peer]{c.to.v.Peer, c.to.err})
		if !ok {
			continue
		}
		lo, hi := portCoord(c.to.v.Ports)
		eps, at = append(eps, span{peer: p, lo: lo, hi: hi}), append(at, i)
	}
	for k, e := range firstOverlaps(eps) {
		if e >= 0 {
			v.add(fmt.Sprintf("network.connect[%d].to", at[k]), "%s overlaps %s at network.connect[%d]; merge them into one entry", n.Connect[at[k]].to.v, n.Connect[at[e]].to.v, at[e])
		}
	}
}

// peer reports why a parsed flow peer cannot be used.
func (v *validator) peer(field, raw string, pp parsed[Peer]) (Peer, bool) {
	p, err := pp.v, pp.err
	switch {
	case err != nil:
		v.add(field, "%v", err)
	case p.Component == "" && p.Name == "" && !p.Prefix.Addr().Is4():
		v.add(field, "IPv6 peers are not supported yet; expected an IPv4 address or CIDR, found %q", raw)
	default:
		return p, true
	}
	return p, false
}

func (v *validator) syscalls() {
	s := v.c.Syscalls
	if s.OnViolation != "" {
		if _, ok := violationActions[s.OnViolation]; !ok {
			v.add("syscalls.on_violation", "expected errno, kill or log, found %q", s.OnViolation)
		}
	}
	for i, r := range s.Allow {
		v.syscallRule(fmt.Sprintf("syscalls.allow[%d]", i), r, false)
	}
	for i, r := range s.Deny {
		v.syscallRule(fmt.Sprintf("syscalls.deny[%d]", i), r, true)
	}
}

func (v *validator) syscallRule(field string, r SyscallRule, deny bool) {
	groups, err := syscallGroups()
	if err != nil {
		v.add(field, "bug: built-in syscall groups: %v", err)
		return
	}
	for j, name := range r.Names {
		nf := fmt.Sprintf("%s.names[%d]", field, j)
		switch {
		case strings.HasPrefix(name, "@"):
			if _, ok := groups[name]; !ok {
				v.add(nf, "unknown syscall group %q%s", name, suggest(name, GroupNames()))
			}
		case !seccomp.Known(name):
			hint := ""
			if len(*v.errs) < 100 { // hints cost an edit distance per known name
				hint = suggestSyscall(name, groups)
			}
			v.add(nf, "unknown syscall %q for this architecture%s", name, hint)
		}
	}
	if r.Errno != "" {
		if !deny {
			v.add(field+".errno", "errno applies to deny rules only")
		} else if _, ok := errnos[r.Errno]; !ok {
			v.add(field+".errno", "unknown errno %q; expected a name such as EACCES or ENOSYS", r.Errno)
		}
	}
	used := map[int]bool{}
	for k, a := range r.Args {
		af := fmt.Sprintf("%s.args[%d]", field, k)
		if a.Index < 0 || a.Index > 5 {
			v.add(af+".index", "expected an argument index from 0 to 5, found %d", a.Index)
		} else if used[a.Index] {
			v.add(af+".index", "argument %d is already compared in this rule; libseccomp allows one comparison per argument (write a second rule)", a.Index)
		}
		used[a.Index] = true
		if !slices.Contains(argOps, a.Op) {
			v.add(af+".op", "expected one of %s, found %q", strings.Join(argOps, ", "), a.Op)
		}
		if err := a.value.err; a.Value == "" || err != nil {
			v.add(af+".value", "%v", orErr(err, "expected a value"))
		}
		switch {
		case a.Op == "masked_eq" && a.Mask == "":
			v.add(af+".mask", "masked_eq needs a mask")
		case a.Op != "masked_eq" && a.Mask != "":
			v.add(af+".mask", "mask applies to masked_eq only")
		case a.Mask != "":
			m, err := a.mask.v, a.mask.err
			if err != nil {
				v.add(af+".mask", "%v", err)
			} else if val := a.value.v; a.value.err == nil && val&^m != 0 {
				v.add(af+".value", "%#x has bits outside the mask %#x, so the rule could never match", val, m)
			}
		}
	}
}

func orErr(err error, msg string) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("%s", msg)
}

// hasControl reports whether s holds a control character, which would let a policy forge
// lines in explain's output and in reports.
func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }) // the decoder refuses tabs outside argv and env values
}

// suggestSyscall offers the closest known syscall name.
func suggestSyscall(name string, groups map[string][]string) string {
	var all []string
	for _, g := range groups {
		all = append(all, g...)
	}
	return suggest(name, all)
}

// capabilityNames are the names gocapability knows, upper case without CAP_.
var capabilityNames = sync.OnceValue(func() []string {
	var names []string
	for _, c := range capability.List() {
		names = append(names, strings.ToUpper(c.String()))
	}
	return names
})

// NormalizeCap turns "cap_net_raw" or "CAP_NET_RAW" into "NET_RAW".
func NormalizeCap(s string) string {
	return strings.TrimPrefix(strings.ToUpper(s), "CAP_")
}

func (v *validator) capabilities() {
	if len(v.c.Capabilities) == 0 {
		return // capabilityNames upper-cases some forty names: not for none
	}
	known := capabilityNames()
	seen := map[string]bool{}
	for i, c := range v.c.Capabilities {
		field := fmt.Sprintf("capabilities[%d]", i)
		n := NormalizeCap(c)
		switch {
		case !slices.Contains(known, n):
			v.add(field, "unknown capability %q%s", c, suggest(n, known))
		case seen[n]:
			v.add(field, "capability %s is listed twice", n)
		}
		seen[n] = true
	}
}

func (v *validator) resources() {
	r := v.c.Resources
	if r.Memory != "" {
		if n, err := r.memory.v, r.memory.err; err != nil {
			v.add("resources.memory", "%v", err)
		} else if n < 1<<20 {
			v.add("resources.memory", "expected at least 1Mi, found %s", r.Memory)
		}
	}
	if r.Pids < 0 || r.Pids > 1<<22 {
		v.add("resources.pids", "expected a count from 1 to %d (or 0 for no limit), found %d", 1<<22, r.Pids)
	}
	// The kernel's smallest CFS quota is 1ms of a 100ms period.
	if !(r.CPU >= 0 && r.CPU <= 1024) || (r.CPU > 0 && r.CPU < 0.01) { // NaN fails the first test
		v.add("resources.cpu", "expected a number of CPUs from 0.01 to 1024 such as 0.5 or 2, found %g", r.CPU)
	}
	if r.Nofile < 0 || r.Nofile > 1<<20 {
		v.add("resources.nofile", "expected a count from 1 to %d (or 0 for the default, 1024), found %d", 1<<20, r.Nofile)
	}
}

// effective checks what only the merged policy shows.
func (v *validator) effective(eff *Component) {
	v.effectiveIDs(eff)
	v.seccompShapes(eff)
	if len(eff.Syscalls.Allow) == 0 {
		v.add("syscalls", "no syscall is allowed; add `extends: default` under syscalls, or list what the component needs")
	}
	if or(eff.Syscalls.OnViolation, "errno") == "errno" {
		for i, r := range v.c.Syscalls.Deny {
			if errnos[r.Errno] == defaultErrno {
				v.add(fmt.Sprintf("syscalls.deny[%d].errno", i), "EPERM is what every undeclared syscall already gets under on_violation: errno; leave errno out, or name another (a deny with args defaults to EACCES)")
			}
		}
	}
	// A profile's tmpfs hides the file's own paths beneath it (the file's own tmpfs
	// entries are checked in filesystem()).
	own := map[string]bool{}
	for _, t := range v.c.Filesystem.Tmpfs {
		own[t] = true
	}
	added := &pathTree{}
	for _, t := range eff.Filesystem.Tmpfs {
		if !own[t] {
			added.add(t)
		}
	}
	for _, l := range []struct {
		key   string
		paths []string
	}{{"read", v.c.Filesystem.Read}, {"write", v.c.Filesystem.Write}} {
		for i, p := range l.paths {
			if checkPath(p) != "" {
				continue
			}
			added.holders(p, func(t string) {
				if p != t {
					v.add(fmt.Sprintf("filesystem.%s[%d]", l.key, i), "%s lies inside the tmpfs %s that a profile adds, which is mounted over it and would hide it", p, t)
				}
			})
		}
	}
	declared := append(append(append([]string{}, eff.Filesystem.Read...), eff.Filesystem.Write...), bindTargets(eff.Filesystem)...)
	visible := func(p string, declared []string) bool {
		for _, d := range declared {
			if checkPath(d) == "" && within(p, d) {
				return true
			}
		}
		return false
	}
	// Nothing undeclared exists in the sandbox (and Landlock denies it under a rootfs).
	// A tmpfs starts empty, so a command cannot come from one; a workdir can be one.
	if eff.Run.Image != "" {
		return // the whole image is there; what it lacks fails at exec
	}
	if cmd := eff.Run.Command; len(cmd) > 0 && checkPath(cmd[0]) == "" && !visible(cmd[0], declared) {
		v.add("run.command[0]", "%s is not under any filesystem.read or write path, so it would not exist in the sandbox", cmd[0])
	}
	if wd := eff.Run.Workdir; wd != "" && checkPath(wd) == "" && !visible(wd, append(declared, eff.Filesystem.Tmpfs...)) {
		v.add("run.workdir", "%s is not under any filesystem path, so it would not exist in the sandbox", wd)
	}
}
