package learn

import (
	"encoding/json"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/syndtr/gocapability/capability"

	"github.com/confine-sandbox/confine/audit"
	"github.com/confine-sandbox/confine/policy"
	"github.com/confine-sandbox/confine/policy/seccomp"
)

// Seen is what one or more audit-mode runs were seen to do, folded from their logs'
// records (Observe). Every count is a number of calls (a record's details.count), not of
// records.
type Seen struct {
	Component string // named by the first component.start record
	Starts    int    // component.start records of that component

	Syscalls map[string]*Call    // by syscall name
	Files    map[string]*File    // by absolute path, as the component named it
	Listen   map[string]int      // "80/tcp"
	Connect  map[string]int      // a connect entry's to: "10.0.0.1:5432/tcp", "db:9000/tcp"
	Caps     map[string]*CapSeen // "NET_BIND_SERVICE"

	Denials  int // denial records taken
	Enforced int // denial records with enforced: true (the run's own rules refused them)
	Skipped  int // denial records of this component that said nothing learn can use
}

// Call is one syscall: how often, and the values of its flag-like argument (argIndex)
// when every call was seen with its arguments.
type Call struct {
	Count  int
	NoArgs bool           // some call was seen without arguments (a kernel record)
	Values map[uint64]int // argument argIndex[name] → calls
	Index  int            // which argument Values are of; -1 when none is kept
}

// File is one path and how it was used: access ("read", "write", "exec", "create",
// "remove", "list") → calls.
type File struct {
	Count  int
	Access map[string]int
	Absent bool // the record said the path did not exist (exists: false)
}

// CapSeen is one capability and the calls that needed it.
type CapSeen struct {
	Count int
	From  map[string]bool
}

// argIndex names, for the syscalls whose calls learn may restrict by value, the one
// argument that is a flag or a command rather than a pointer or a size: values that a
// program repeats run after run. Other syscalls are allowed whatever their arguments.
var argIndex = map[string]int{
	"socket": 0, "ioctl": 1, "fcntl": 1, "prctl": 0, "personality": 0, "arch_prctl": 0, "clone": 0,
}

// KindObservedCalls is the record confine learn's run writes before component.exit: how
// many times each syscall that audit mode watches (policy.ObservedSyscalls) was called,
// denied or not, in details.calls. Allowed, those calls give no denial of their own.
const KindObservedCalls = "audit.observed_calls"

// maxCount bounds a record's count, so that sums of hostile counts cannot overflow.
const maxCount = 1 << 40

// Observe folds an audit log's records into a Seen. It takes the denial records of the
// component named by the first component.start record, wherever they stand: the kernel's
// records of the init stage's last calls (after the filter, before execve, which the
// learned policy needs as much) may be written before component.start. A record it
// cannot read is counted in Skipped, never a panic.
func Observe(records []audit.Record) *Seen {
	s := NewSeen()
	s.Add(records)
	return s
}

// NewSeen returns an empty Seen.
func NewSeen() *Seen {
	return &Seen{Syscalls: map[string]*Call{}, Files: map[string]*File{}, Listen: map[string]int{},
		Connect: map[string]int{}, Caps: map[string]*CapSeen{}}
}

// Add folds one more log into s (the records of a further run of the same component).
func (s *Seen) Add(records []audit.Record) {
	started := false
	for _, r := range records {
		if r.Kind == audit.KindStart && (s.Component == "" || r.Component == s.Component) {
			s.Component, started = r.Component, true
			s.Starts++
		}
	}
	for _, r := range records {
		if !started || r.Component != s.Component {
			continue
		}
		switch r.Kind {
		case audit.KindDenial:
			s.denial(r.Details)
		case KindObservedCalls:
			calls, _ := r.Details["calls"].(map[string]any)
			for _, name := range sortedKeys(calls) {
				if n, ok := number(calls[name]); ok && n > 0 && validSyscall(name) {
					s.used(name, int(min(n, maxCount)))
				}
			}
		}
	}
}

func (s *Seen) denial(d map[string]any) {
	if enforced, ok := d[audit.DetailEnforced].(bool); !ok || enforced {
		s.Enforced++
		return
	}
	n := count(d[audit.DetailCount])
	var ok bool
	switch d[audit.DetailLayer] {
	case audit.LayerSeccomp:
		ok = s.syscall(d, n)
	case "filesystem":
		ok = s.file(d, n)
	case audit.LayerNetwork:
		ok = s.network(d, n)
	case "capability":
		ok = s.capability(d, n)
	}
	if ok {
		s.Denials++
	} else {
		s.Skipped++
	}
	if name, _ := d["syscall"].(string); ok && d[audit.DetailLayer] != audit.LayerSeccomp && validSyscall(name) {
		s.used(name, n) // the call that made a file, port or id observation
	}
}

// used counts a syscall seen only through what it did, without its arguments.
func (s *Seen) used(name string, n int) {
	c := s.Syscalls[name]
	if c == nil {
		c = &Call{Index: -1}
		if i, ok := argIndex[name]; ok {
			c.Index, c.Values = i, map[uint64]int{}
		}
		s.Syscalls[name] = c
	}
	c.Count = add(c.Count, n)
	c.NoArgs = c.NoArgs || c.Index >= 0
}

func (s *Seen) syscall(d map[string]any, n int) bool {
	name, _ := d["syscall"].(string)
	if !validSyscall(name) {
		return false
	}
	c := s.Syscalls[name]
	if c == nil {
		c = &Call{Index: -1}
		if i, ok := argIndex[name]; ok {
			c.Index, c.Values = i, map[uint64]int{}
		}
		s.Syscalls[name] = c
	}
	c.Count = add(c.Count, n)
	if c.Index < 0 {
		return true
	}
	args, _ := d["args"].([]any)
	var v uint64
	var have bool
	if len(args) == 6 {
		v, have = number(args[c.Index])
	}
	if !have {
		c.NoArgs = true
		return true
	}
	c.Values[v] = add(c.Values[v], n)
	return true
}

func (s *Seen) file(d map[string]any, n int) bool {
	path, _ := d["path"].(string)
	access, _ := d["access"].(string)
	switch access {
	case "read", "write", "exec", "create", "remove", "list":
	default:
		return false
	}
	if !validPath(path) {
		return false
	}
	f := s.Files[path]
	if f == nil {
		f = &File{Access: map[string]int{}}
		s.Files[path] = f
	}
	f.Count = add(f.Count, n)
	f.Access[access] = add(f.Access[access], n)
	if exists, ok := d["exists"].(bool); ok && !exists {
		f.Absent = true
	}
	return true
}

func (s *Seen) network(d map[string]any, n int) bool {
	dir, _ := d["direction"].(string)
	proto, _ := d["proto"].(string)
	port, ok := number(d["dport"])
	if proto != "tcp" && proto != "udp" || !ok || port > 65535 {
		return false
	}
	ports := strconv.FormatUint(port, 10) + "/" + proto
	switch dir {
	case "bind":
		if port == 0 {
			return true // an ephemeral port: nothing to declare
		}
		s.Listen[ports] = add(s.Listen[ports], n)
		return true
	case "connect", "send":
		host := connectHost(d)
		if host == "" || port == 0 {
			return false
		}
		to := host + ":" + ports
		if _, err := policy.ParseEndpoint(to); err != nil {
			return false
		}
		s.Connect[to] = add(s.Connect[to], n)
		return true
	}
	return false
}

// connectHost is the peer's name when the destination is a stack peer, the DNS name
// the resolver saw asked, or the address.
func connectHost(d map[string]any) string {
	for _, k := range []string{"peer", "name", "dst"} {
		if h, _ := d[k].(string); h != "" && visible(h) && !strings.ContainsAny(h, "/ ") {
			if strings.Contains(h, ":") {
				return "" // IPv6: confine check refuses IPv6 peers for now
			}
			return h
		}
	}
	return ""
}

func (s *Seen) capability(d map[string]any, n int) bool {
	name, _ := d["capability"].(string)
	name = policy.NormalizeCap(name)
	if !knownCaps()[name] {
		return false
	}
	c := s.Caps[name]
	if c == nil {
		c = &CapSeen{From: map[string]bool{}}
		s.Caps[name] = c
	}
	c.Count = add(c.Count, n)
	if from, _ := d["inferred_from"].(string); from != "" && visible(from) && len(c.From) < 4 {
		c.From[excerpt(from)] = true
	}
	return true
}

func knownCaps() map[string]bool {
	m := map[string]bool{}
	for _, c := range capability.List() {
		m[strings.ToUpper(c.String())] = true
	}
	return m
}

// count reads a record's count: 1 when absent or not a positive integer.
func count(v any) int {
	n, ok := number(v)
	if !ok || n == 0 {
		return 1
	}
	return int(min(n, maxCount))
}

func add(a, b int) int { return int(min(int64(a)+int64(b), maxCount)) }

// number reads an unsigned integer from a decoded JSON value (float64, json.Number), a Go
// integer (records built in memory), or a "0x…"/decimal string.
func number(v any) (uint64, bool) {
	switch x := v.(type) {
	case float64:
		if x < 0 || x != math.Trunc(x) || x >= 1<<64 {
			return 0, false
		}
		return uint64(x), true
	case json.Number:
		n, err := strconv.ParseUint(string(x), 10, 64)
		return n, err == nil
	case string:
		n, err := strconv.ParseUint(x, 0, 64)
		return n, err == nil
	case int:
		return uint64(x), x >= 0
	case int64:
		return uint64(x), x >= 0
	case uint64:
		return x, true
	case uint32:
		return uint64(x), true
	}
	return 0, false
}

func validSyscall(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return seccomp.Known(name)
}

// validPath accepts an absolute, clean path of visible text that a policy may name.
func validPath(p string) bool {
	return len(p) > 0 && len(p) <= 4096 && p[0] == '/' && filepath.Clean(p) == p && visible(p)
}

func visible(s string) bool { return policy.CheckVisible(s) == nil }

// excerpt cuts a seen text to what a comment repeats.
func excerpt(s string) string {
	if r := []rune(s); len(r) > 40 {
		return string(r[:40]) + "…"
	}
	return s
}
