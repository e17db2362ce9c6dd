//go:build cgo

package policy

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	libseccomp "github.com/seccomp/libseccomp-golang"
)

// TestSeccompProfilesOracle: every built-in profile, alone and merged in pairs (both
// orders), under on_violation errno, kill and log (alone, also with the syscalls the
// profiles compare arguments of denied outright: their argument denies then stand
// alone). On each conditional syscall the program's answer, on arguments around the
// rules' values, is what the effective policy's rules say, worked out from them (not
// from the Plan): a deny without args removes the syscall (its errno, or the default);
// a deny with args that holds fails with its errno (or, under errno for an EACCES deny,
// the default EPERM); else allowed when an allow holds.
func TestSeccompProfilesOracle(t *testing.T) {
	names := []string{"cli", "default", "host-runtime", "learned", "service", "static"}
	var combos []string
	for _, a := range names {
		if a != "host-runtime" { // no syscalls of its own
			combos = append(combos, "["+a+"]")
		}
		for _, b := range names {
			if a != b {
				combos = append(combos, "["+a+", "+b+"]")
			}
		}
	}
	groups, err := syscallGroups()
	if err != nil {
		t.Fatal(err)
	}
	for _, combo := range combos {
		for _, variant := range []string{"errno", "log", "kill", "errno, deny: [socket, ioctl, clone, personality]", "kill, deny: [socket, ioctl, clone, personality]", "log, deny: [socket, ioctl, clone, personality]"} {
			mode, deny, _ := strings.Cut(variant, ",")
			if deny != "" && strings.Contains(combo, ",") {
				continue // the profiles alone stand for the pairs here
			}
			src := fmt.Sprintf("version: 1\nname: t\nextends: %s\nrun: {command: [/bin/true]}\nfilesystem: {read: [/bin]}\nsyscalls: {on_violation: %s}\n", combo, variant)
			s, err := Open(fstest.MapFS{"c.yaml": {Data: []byte(src)}}, "c.yaml")
			if err != nil {
				t.Fatal(err)
			}
			if errs := Validate(s); len(errs) > 0 {
				t.Errorf("%s %s refused: %v", combo, mode, errs)
				continue
			}
			p, err := Compile(s)
			if err != nil {
				t.Fatalf("%s: %v", combo, err)
			}
			eff, errs := Effective(s.Members[0])
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			checkOracle(t, combo+" "+mode, p.Components[0].Seccomp.Program, eff.Syscalls, mode, groups)
		}
	}
}

func checkOracle(t *testing.T, what string, prog []byte, sc Syscalls, mode string, groups map[string][]string) {
	def := map[string]uint32{"errno": retErrno | 1, "kill": retKillProcess, "log": retLog}[mode]
	conditional := map[string]bool{}
	for _, l := range [][]SyscallRule{sc.Allow, sc.Deny} {
		for _, r := range l {
			if len(r.Args) > 0 {
				for _, n := range members1(r.Names, groups) {
					conditional[n] = true
				}
			}
		}
	}
	for name := range conditional {
		nr, err := libseccomp.GetSyscallFromName(name)
		if err != nil || int(nr) < 0 {
			continue
		}
		var c shapeCase
		for _, r := range sc.Allow {
			if slices.Contains(members1(r.Names, groups), name) {
				c.allows = append(c.allows, argConds(r.Args))
			}
		}
		var errno []string
		for _, r := range sc.Deny {
			if slices.Contains(members1(r.Names, groups), name) {
				c.denys = append(c.denys, argConds(r.Args))
				errno = append(errno, r.Errno)
			}
		}
		for _, args := range shapeProbes(c) {
			var want []uint32
			allowed := false
			for _, a := range c.allows {
				allowed = allowed || holds(a, args)
			}
			for i, d := range c.denys {
				if !holds(d, args) {
					continue
				}
				switch {
				case errno[i] != "":
					want = append(want, retErrno|uint32(errnos[errno[i]]))
				case len(d) > 0:
					want = append(want, retErrno|13)
				}
				// A deny without args and errno leaves the call to the default; one with
				// args of a syscall left with no allow does so only under errno, for EACCES.
				if len(d) == 0 && errno[i] == "" || len(d) > 0 && mode == "errno" && or(errno[i], "EACCES") == "EACCES" {
					want = append(want, def)
				}
			}
			switch {
			case len(want) > 0:
			case allowed:
				want = append(want, retAllow)
			default:
				want = append(want, def)
			}
			if got := runFilter(t, prog, auditArchAMD64, int32(nr), args...); !slices.Contains(want, got) {
				t.Errorf("%s: %s%#x: %#x, want one of %#x", what, name, args, got, want)
			}
		}
	}
}

// TestSeccompRandomOverProfiles: random rules of socket, ioctl and personality (which
// the profiles compare arguments of) on top of a built-in profile, under each
// on_violation: what validate accepts builds (in a child) and does what the merged
// rules say (checkOracle); what it refuses is refused at the file's position.
// CONFINE_TEST_OVER=N runs more.
func TestSeccompRandomOverProfiles(t *testing.T) {
	n := 80
	if v, err := strconv.Atoi(os.Getenv("CONFINE_TEST_OVER")); err == nil {
		n = v
	}
	groups, err := syscallGroups()
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(uint64(n), 7))
	profiles := []string{"default", "cli", "service", "learned"}
	var cases []shapeCase
	var modes []string
	for range n {
		mode := []string{"errno", "kill", "log"}[r.IntN(3)]
		name := []string{"socket", "ioctl", "personality"}[r.IntN(3)]
		y := fmt.Sprintf("version: 1\nname: t\nextends: [%s]\nrun: {command: [/bin/true]}\nfilesystem: {read: [/bin]}\nsyscalls:\n  on_violation: %s\n  allow:\n", profiles[r.IntN(len(profiles))], mode)
		for range r.IntN(3) + 1 {
			rule, _ := wideRule(r, 2)
			y += strings.Replace(rule, "mount", name, 1)
		}
		if nd := r.IntN(3); nd > 0 {
			y += "  deny:\n"
			for range nd {
				rule, a := wideRule(r, 2)
				for len(a) == 0 {
					rule, a = wideRule(r, 2)
				}
				if e := []string{"", "ENOSYS", "EBADF"}[r.IntN(3)]; e != "" {
					rule = strings.Replace(rule, "]}\n", "], errno: "+e+"}\n", 1)
				}
				y += strings.Replace(rule, "mount", name, 1)
			}
		}
		cases = append(cases, shapeCase{yaml: y})
		modes = append(modes, mode)
	}
	var accepted []shapeCase
	var effs []*Component
	var am []string
	for i, c := range cases {
		s, err := Open(fstest.MapFS{"c.yaml": {Data: []byte(c.yaml)}}, "c.yaml")
		if err != nil {
			t.Fatalf("%v\n%s", err, c.yaml)
		}
		if errs := Validate(s); len(errs) > 0 {
			for _, e := range errs {
				if !strings.HasPrefix(e.Error(), "c.yaml:") || strings.HasPrefix(e.Error(), "c.yaml:1:1:") {
					t.Errorf("refused without the rule's position: %v\n%s", e, c.yaml)
				}
			}
			continue
		}
		eff, errs := Effective(s.Members[0])
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		accepted, effs, am = append(accepted, c), append(effs, eff), append(am, modes[i])
	}
	progs := buildShapes(t, accepted)
	for i, c := range accepted {
		before := t.Failed()
		checkOracle(t, am[i], progs[i], effs[i].Syscalls, am[i], groups)
		if !before && t.Failed() {
			t.Logf("the policy:\n%s", c.yaml)
		}
	}
	t.Logf("%d rule sets, %d built", n, len(accepted))
}
