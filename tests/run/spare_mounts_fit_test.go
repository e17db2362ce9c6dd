//go:build linux

package run_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/confine-sandbox/confine/policy"
	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// TestSpareMountsAheadNotFit: a Plan the spare's pieces (stage_ahead.c) do not fit runs
// its own ops through the lone run's spare all the same, and the sandbox is what those
// ops make: other masks than the recipe's mask what the Plan names; a mount over the
// root after /proc (a rootfs run binding the host's / there) leaves the masks and the
// read-only /proc/sys on what it holds; a proc with other options is the Plan's, and
// the pieces no op took (that proc, the /dev/tty clone of a Plan without /dev/tty) are
// closed before the exec.
func TestSpareMountsAheadNotFit(t *testing.T) {
	testenv.Require(t, testenv.Root)
	skipInGoInitPass(t)
	if !inOwnMounts(t) {
		return
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	rootfs := filepath.Join(dir, "rootfs")
	for _, d := range []string{"proc", "dev"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	probe := probeDir + "/probe"
	for _, tc := range []struct {
		name, extra string
		probes      []string
		change      func(c *plan.Component)
		check       func(res map[string]result) bool
	}{
		{"other masks", "", []string{"read:/proc/cpuinfo", "read:/proc/kallsyms"},
			func(c *plan.Component) {
				c.MaskedPaths = slices.Clone(c.MaskedPaths)
				c.MaskedPaths[slices.Index(c.MaskedPaths, "/proc/kallsyms")] = "/proc/cpuinfo"
			},
			func(res map[string]result) bool {
				return res["read:/proc/cpuinfo"].Out == "0" && res["read:/proc/kallsyms"].Out != "0"
			}},
		{"the root covered after /proc", "rootfs: " + rootfs, []string{"read:/proc/interrupts", "write:/proc/sys/net/ipv4/ip_forward"},
			func(c *plan.Component) {
				i := slices.IndexFunc(c.Mounts, func(m plan.Mount) bool { return m.Type == "proc" })
				c.Mounts = slices.Insert(c.Mounts, i+1, plan.Mount{Type: "bind", Source: "/", Target: "/",
					Options: []string{"ro", "nosuid", "nodev"}, Why: "the host's / over the root"})
			},
			func(res map[string]result) bool {
				return res["read:/proc/interrupts"].Out == "0" &&
					strings.Contains(res["write:/proc/sys/net/ipv4/ip_forward"].Err, "read-only file system")
			}},
		{"other proc options, no /dev/tty", "", []string{"fds:"},
			func(c *plan.Component) {
				c.Mounts = slices.DeleteFunc(c.Mounts, func(m plan.Mount) bool { return m.Target == "/dev/tty" })
				i := slices.IndexFunc(c.Mounts, func(m plan.Mount) bool { return m.Type == "proc" })
				c.Mounts[i].Options = append(slices.Clone(c.Mounts[i].Options), "hidepid=2")
			},
			func(res map[string]result) bool {
				return res["fds:"].Out == "0 1 2 3" && strings.Contains(res["cat:/proc/self/mountinfo"].Out, "hidepid=")
			}},
	} {
		// fds: first, before an open starts the Go runtime's poller (two descriptors).
		args := append(slices.Clone(tc.probes), "cat:/proc/self/mountinfo")
		quoted := `"` + probe + `", "` + strings.Join(args, `", "`) + `"`
		src := "version: 1\nname: fit\nrun: {command: [" + quoted + "], user: \"1000:1000\", " + tc.extra + "}\n" +
			"filesystem: {read: [" + probeDir + "]}\nsyscalls: {extends: default}\n"
		s, err := policy.Open(fstest.MapFS{"fit.yaml": {Data: []byte(src)}}, "fit.yaml")
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		p, err := policy.Compile(s)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		tc.change(&p.Components[0])
		data, _ := json.Marshal(p)
		file := filepath.Join(dir, "plan.json")
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Fatal(err)
		}
		res := runPlanThroughSpare(t, tc.name, file)
		if !tc.check(res) {
			delete(res, "cat:/proc/self/mountinfo")
			t.Errorf("%s: the sandbox is not the Plan's: %+v", tc.name, res)
		}
	}
}

// runPlanThroughSpare runs the Plan in file with `confine run --plan` until the run took
// the spare's device clones (the one piece every such Plan takes: /dev/zero made before
// the root in mountinfo, madeBefore), and returns its probes' results.
func runPlanThroughSpare(t *testing.T, name, file string) map[string]result {
	t.Helper()
	for attempt := 0; attempt < 5; attempt++ { // a spare made stale meanwhile starts fresh
		cmd := exec.Command(confineBin, "run", "--plan", file)
		var out strings.Builder
		cmd.Stdout = &out
		code, stderr := exitOf(cmd)
		if code != 0 {
			t.Fatalf("%s: exit %d:\n%s", name, code, stderr)
		}
		res := results(out.String())
		at := map[string]int{}
		for i, line := range strings.Split(res["cat:/proc/self/mountinfo"].Out, "\n") {
			if f := strings.Fields(line); len(f) > 4 {
				if _, seen := at[f[4]]; !seen {
					at[f[4]] = i
				}
			}
		}
		if zero, ok := at["/dev/zero"]; ok && zero < at["/"] {
			return res
		}
	}
	t.Fatalf("%s: no run took the spare's pieces", name)
	return nil
}
