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
)

// wideValues and wideMasks reach the high word: values with it set, masks over it.
var (
	wideValues = []uint64{0, 1, 2, 9, 0xffffffff, 1<<32 | 2, 1 << 32, 0xffffffff00000000, ^uint64(0), 0x500000009}
	wideMasks  = []uint64{1, 3, 0xffffffff, 0xff00000000, 0xffffffff00000003, ^uint64(0)}
	wideModes  = []string{"errno", "kill", "log", "audit"}
	wideErrnos = map[string]uint32{"": 13, "ENOSYS": 38, "EPERM": 1, "EBADF": 9}
)

func wideRule(r *rand.Rand, maxConds int) (string, []ArgCond) {
	var conds []string
	var a []ArgCond
	for _, i := range r.Perm(3)[:r.IntN(maxConds+1)] {
		op, v := shapeOps[r.IntN(len(shapeOps))], wideValues[r.IntN(len(wideValues))]
		if op == "masked_eq" {
			m := wideMasks[r.IntN(len(wideMasks))]
			v &= m
			conds = append(conds, fmt.Sprintf("{index: %d, op: masked_eq, mask: %#x, value: %#x}", i, m, v))
			a = append(a, argCond(i, op, v, m))
			continue
		}
		conds = append(conds, fmt.Sprintf("{index: %d, op: %s, value: %#x}", i, op, v))
		a = append(a, argCond(i, op, v, 0))
	}
	return "    - {names: [mount], args: [" + strings.Join(conds, ", ") + "]}\n", a
}

// wideCase is a shapeCase with its on_violation mode.
type wideCase struct {
	shapeCase
	mode string
}

func randomWide(n int, seed uint64, maxAllows, maxDenies, maxConds int) []wideCase {
	r := rand.New(rand.NewPCG(seed, 99))
	var cases []wideCase
	for range n {
		mode := wideModes[r.IntN(len(wideModes))]
		c := wideCase{mode: mode}
		c.yaml = seccompBase + "syscalls:\n  on_violation: " + mode + "\n  allow:\n    - read\n"
		if mode == "audit" {
			c.yaml = seccompBase + "mode: audit\nsyscalls:\n  allow:\n    - read\n"
		}
		for range r.IntN(maxAllows) + 1 {
			y, a := wideRule(r, maxConds)
			c.yaml += y
			c.allows = append(c.allows, argConds(a))
		}
		if nd := r.IntN(maxDenies + 1); nd > 0 {
			c.yaml += "  deny:\n"
			for range nd {
				y, a := wideRule(r, maxConds)
				for len(a) == 0 {
					y, a = wideRule(r, maxConds)
				}
				names := []string{"", "ENOSYS", "EPERM", "EBADF"}
				e := names[r.IntN(len(names))]
				if e == "EPERM" && (mode == "errno" || mode == "audit") {
					e = ""
				}
				if e != "" {
					y = strings.Replace(y, "]}\n", "], errno: "+e+"}\n", 1)
				}
				c.yaml += y
				c.denys = append(c.denys, argConds(a))
				c.errnos = append(c.errnos, wideErrnos[e])
			}
		}
		cases = append(cases, c)
	}
	return cases
}

// wideWant: allowed when an allow holds and no deny does; a holding deny's errno
// (or, under errno where every holding deny is EACCES, the default EPERM); else the default.
func wideWant(c wideCase, args []uint64) []uint32 {
	def := map[string]uint32{"errno": retErrno | 1, "kill": retKillProcess, "log": retLog, "audit": retLog}[c.mode]
	allowed := false
	for _, a := range c.allows {
		allowed = allowed || holds(a, args)
	}
	var want []uint32
	named := false // a holding deny names an errno other than EACCES
	for i, d := range c.denys {
		if holds(d, args) && c.mode == "audit" { // observed: notified, or logged where no allow is left
			want = append(want, retNotify, retLog)
		} else if holds(d, args) {
			want = append(want, retErrno|c.errnos[i])
			named = named || c.errnos[i] != 13
		}
	}
	switch {
	case len(want) > 0:
		// Only EACCES denies of a syscall left with no allow give way to the default
		// EPERM; under log and kill every deny keeps its errno.
		if c.mode == "errno" && !named {
			want = append(want, def)
		}
	case allowed:
		want = append(want, retAllow)
	default:
		want = append(want, def)
	}
	return want
}

func TestSeccompRandomShapesWide(t *testing.T) {
	n, seed := 1500, uint64(1)
	if v, err := strconv.Atoi(os.Getenv("CONFINE_TEST_WIDE")); err == nil {
		n = v
	}
	if v, err := strconv.ParseUint(os.Getenv("CONFINE_TEST_SHAPES_SEED"), 10, 64); err == nil {
		seed = v
	}
	a, d, k := 5, 4, 3
	if v := os.Getenv("CONFINE_TEST_WIDE_DIMS"); v != "" {
		fmt.Sscanf(v, "%d,%d,%d", &a, &d, &k)
	}
	cases := randomWide(n, seed, a, d, k)
	var accepted []wideCase
	var sc []shapeCase
	refused := 0
	for _, c := range cases {
		s, err := Open(fstest.MapFS{"c.yaml": {Data: []byte(c.yaml)}}, "c.yaml")
		if err != nil {
			t.Fatalf("%v\n%s", err, c.yaml)
		}
		if errs := Validate(s); len(errs) > 0 {
			if !strings.HasPrefix(errs[0].Error(), "c.yaml:") {
				t.Fatalf("refused without a position: %v\n%s", errs, c.yaml)
			}
			refused++
			continue
		}
		accepted = append(accepted, c)
		sc = append(sc, c.shapeCase)
	}
	progs := buildShapes(t, sc)
	bad := 0
	for i, c := range accepted {
		for _, args := range shapeProbes(c.shapeCase) {
			if got, want := runFilter(t, progs[i], auditArchAMD64, nr["mount"], args...), wideWant(c, args); !slices.Contains(want, got) {
				t.Errorf("mount%#x: %#x, want one of %#x:\n%s", args, got, want, c.yaml)
				bad++
				break
			}
		}
		if bad > 5 {
			break
		}
	}
	t.Logf("%d rule sets: %d refused, %d built", len(cases), refused, len(accepted))
}
