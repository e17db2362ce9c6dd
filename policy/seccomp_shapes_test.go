package policy

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/policy/seccomp"
)

// shapeOps and shapeValues are what the random rule sets compare: every operator, values
// on both sides of the 32-bit words' boundary.
var (
	shapeOps    = []string{"eq", "ne", "lt", "le", "gt", "ge", "masked_eq"}
	shapeValues = []uint64{0, 1, 2, 9, 0xffffffff, 1<<32 | 2}
	shapeMasks  = []uint64{1, 3, 0xffffffff}
)

// shapeRule writes a rule of mount with up to two conditions, on arguments 0 to 2.
func shapeRule(r *rand.Rand) (string, []ArgCond) {
	var conds []string
	var a []ArgCond
	for _, i := range r.Perm(3)[:r.IntN(3)] {
		op, v := shapeOps[r.IntN(len(shapeOps))], shapeValues[r.IntN(len(shapeValues))]
		if op == "masked_eq" {
			m := shapeMasks[r.IntN(len(shapeMasks))]
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

func argCond(i int, op string, v, m uint64) ArgCond {
	return ArgCond{Index: i, Op: op, value: parsed[uint64]{v: v}, mask: parsed[uint64]{v: m}}
}

// shapeCase is one random policy: its file and the conditions of its allows and denies.
type shapeCase struct {
	yaml          string
	allows, denys []alt
	errnos        []uint32 // each deny's
}

func randomShapes(n int, seed uint64) []shapeCase {
	r := rand.New(rand.NewPCG(seed, 24))
	var cases []shapeCase
	for range n {
		c := shapeCase{yaml: seccompBase + "syscalls:\n  allow:\n    - read\n"}
		for range r.IntN(3) + 1 {
			y, a := shapeRule(r)
			c.yaml += y
			c.allows = append(c.allows, argConds(a))
		}
		if nd := r.IntN(3); nd > 0 {
			c.yaml += "  deny:\n"
			for range nd {
				y, a := shapeRule(r)
				for len(a) == 0 {
					y, a = shapeRule(r)
				}
				errno := uint32(13) // EACCES
				if r.IntN(3) == 0 { // denies that return other errnos
					y, errno = strings.Replace(y, "]}\n", "], errno: ENOSYS}\n", 1), 38
				}
				c.yaml += y
				c.denys = append(c.denys, argConds(a))
				c.errnos = append(c.errnos, errno)
			}
		}
		cases = append(cases, c)
	}
	return cases
}

// TestSeccompRandomShapes: small random allow/deny sets of one syscall, every operator,
// values on both sides of the 32-bit boundary, denies with two errnos. Each is either refused by validate
// (at a position in the file) or compiles, and libseccomp's build of it returns within a
// short bound (the builds run in a child with CONFINE_SECCOMP_BUILD_LIMIT=5s: a loop ends
// it, and the test names the policy); what compiles does what the policy says (every
// deny wins, with its errno or the default, what no allow holds for gets the default,
// the rest is allowed), checked on argument values around the rules' own. CONFINE_TEST_SHAPES=N and CONFINE_TEST_SHAPES_SEED=S run other sets.
func TestSeccompRandomShapes(t *testing.T) {
	if os.Getenv("CONFINE_TEST_SHAPES_CHILD") != "" {
		shapesChild()
	}
	n, seed := 2000, uint64(1)
	if v, err := strconv.Atoi(os.Getenv("CONFINE_TEST_SHAPES")); err == nil {
		n = v
	}
	if v, err := strconv.ParseUint(os.Getenv("CONFINE_TEST_SHAPES_SEED"), 10, 64); err == nil {
		seed = v
	}
	cases := randomShapes(n, seed)
	var accepted []shapeCase
	refused := 0
	for _, c := range cases {
		s, err := Open(fstest.MapFS{"c.yaml": {Data: []byte(c.yaml)}}, "c.yaml")
		if err != nil {
			t.Fatalf("%v\n%s", err, c.yaml)
		}
		if errs := Validate(s); len(errs) > 0 {
			if !strings.HasPrefix(errs[0].Error(), "c.yaml:") || !strings.Contains(errs[0].Error(), "libseccomp 2.5") {
				t.Fatalf("refused without a position or for another reason: %v\n%s", errs, c.yaml)
			}
			refused++
			continue
		}
		accepted = append(accepted, c)
	}
	progs := buildShapes(t, accepted)
	for i, c := range accepted {
		for _, args := range shapeProbes(c) {
			if got, want := runFilter(t, progs[i], auditArchAMD64, nr["mount"], args...), shapeWant(c, args); !slices.Contains(want, got) {
				t.Errorf("mount%#x: %#x, want one of %#x:\n%s", args, got, want, c.yaml)
			}
		}
	}
	t.Logf("%d rule sets: %d refused, %d built", len(cases), refused, len(accepted))
}

// shapeWant is what the policy says of a call: allowed when an allow holds and no deny;
// else the errno of a deny that holds (any, where several do), or the default, EPERM
// (when no allow holds, or when denies took back every allow of the syscall, whose
// denies then add nothing: docs/policy.md).
func shapeWant(c shapeCase, args []uint64) []uint32 {
	allowed := false
	for _, a := range c.allows {
		allowed = allowed || holds(a, args)
	}
	var want []uint32
	for i, d := range c.denys {
		if holds(d, args) {
			want = append(want, retErrno|c.errnos[i])
		}
	}
	switch {
	case !allowed || len(want) > 0: // a deny that covers every allow leaves the default
		want = append(want, retErrno|1)
	default:
		want = append(want, retAllow)
	}
	return want
}

// buildShapes compiles each case in a child, where a build that loops ends the process.
func buildShapes(t *testing.T, cases []shapeCase) [][]byte {
	var in strings.Builder
	for _, c := range cases {
		in.WriteString(strconv.Quote(c.yaml) + "\n")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestSeccompRandomShapes$")
	cmd.Env = append(os.Environ(), "CONFINE_TEST_SHAPES_CHILD=1", "CONFINE_SECCOMP_BUILD_LIMIT=5s")
	cmd.Stdin = strings.NewReader(in.String())
	out, err := cmd.Output()
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(out) == 0 {
		lines = nil
	}
	if err != nil || len(lines) != len(cases) {
		next := ""
		if len(lines) < len(cases) {
			next = cases[len(lines)].yaml
		}
		t.Fatalf("the builds ended after %d of %d (%v); the next policy:\n%s", len(lines), len(cases), err, next)
	}
	progs := make([][]byte, len(cases))
	for i, l := range lines {
		p, err := hex.DecodeString(l)
		if err != nil {
			t.Fatalf("policy compiled with an error: %s\n%s", l, cases[i].yaml)
		}
		progs[i] = p
	}
	return progs
}

// shapesChild compiles each policy quoted on a line of stdin, writing its program in hex.
func shapesChild() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(nil, 1<<20)
	for in.Scan() {
		src, _ := strconv.Unquote(in.Text())
		s, err := Open(fstest.MapFS{"c.yaml": {Data: []byte(src)}}, "c.yaml")
		if err == nil {
			var p *plan.Plan
			if p, err = Compile(s); err == nil {
				fmt.Println(hex.EncodeToString(p.Components[0].Seccomp.Program))
				continue
			}
		}
		fmt.Println(strconv.Quote(err.Error()))
	}
	os.Exit(0)
}

func holds(a alt, args []uint64) bool {
	for _, c := range a {
		if !seccomp.CondHolds(c, args[c.Index]) {
			return false
		}
	}
	return true
}

// shapeProbes is every combination, over arguments 0 to 2, of values at and around
// each one the case compares and a few others.
func shapeProbes(c shapeCase) [][]uint64 {
	var vals [3][]uint64
	seen := [3]map[uint64]bool{{}, {}, {}}
	add := func(i uint, v uint64) {
		if !seen[i][v] {
			seen[i][v] = true
			vals[i] = append(vals[i], v)
		}
	}
	for i := range uint(3) {
		add(i, 0)
		add(i, 7)
		add(i, 1<<40)
	}
	for _, a := range append(append([]alt{}, c.allows...), c.denys...) {
		for _, x := range a {
			for _, v := range []uint64{x.Value - 1, x.Value, x.Value + 1, x.Value | 1<<32, x.Value ^ x.Mask} {
				add(x.Index, v)
			}
		}
	}
	var out [][]uint64
	for _, x := range vals[0] {
		for _, y := range vals[1] {
			for _, z := range vals[2] {
				out = append(out, []uint64{x, y, z})
			}
		}
	}
	return out
}
