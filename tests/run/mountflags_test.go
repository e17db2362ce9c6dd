//go:build linux

package run_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/confine-sandbox/confine/tests/testenv"
)

// TestMountFlags: the flags on each mount the component sees, as its mountinfo lists
// them, are the same from the C stage and the Go init, mount for mount in the tree's
// order (mountinfo's own order is when each was made: the parent's idmapped mounts and
// the spare's pieces, stage_ahead.c, come first), and they are what the Plan asks: the root, read paths and the masked /proc files
// read-only, nothing exec or suid in /dev but where the Plan allows it, a write path
// writable but nosuid and nodev. mount_setattr adds the flags where a remount restated
// them (stage_mounts.c's remount), so a flag the host set, or one it locked, stays.
func TestMountFlags(t *testing.T) {
	testenv.Require(t, testenv.Root)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o777); err != nil {
		t.Fatal(err)
	}
	src := "version: 1\nname: flags\nrun: {command: [\"" + probeDir + "/probe\"], user: \"1000:1000\"}\n" +
		"filesystem: {read: [" + probeDir + "], write: [" + data + "], tmpfs: [/scratch]}\nsyscalls: {extends: default}\n"
	file := filepath.Join(dir, "flags.yaml")
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	tables := map[string][]string{}
	for _, mode := range []string{"c", "go"} {
		cmd := exec.Command(confineBin, "run", file, "--", "cat:/proc/self/mountinfo")
		cmd.Env = append(os.Environ(), "CONFINE_STAGE="+mode)
		var out strings.Builder
		cmd.Stdout = &out
		if code, stderr := exitOf(cmd); code != 0 {
			t.Fatalf("%s: exit %d:\n%s", mode, code, stderr)
		}
		r := results(out.String())["cat:/proc/self/mountinfo"]
		if !r.OK {
			t.Fatalf("%s: %+v", mode, r)
		}
		tables[mode] = mountFlags(r.Out)
	}
	if !slices.Equal(tables["c"], tables["go"]) {
		t.Errorf("the C stage's mounts differ from the Go init's:\nc:  %s\ngo: %s", strings.Join(tables["c"], "\n    "), strings.Join(tables["go"], "\n    "))
	}
	want := map[string][]string{
		"/":              {"ro", "nosuid", "nodev"},
		probeDir:         {"ro", "nosuid", "nodev"},
		data:             {"rw", "nosuid", "nodev"},
		"/dev/null":      {"nosuid", "noexec"},
		"/dev/urandom":   {"nosuid", "noexec"},
		"/dev/shm":       {"rw", "nosuid", "nodev", "noexec"},
		"/proc/sys":      {"ro", "nosuid", "nodev", "noexec"},
		"/proc/kallsyms": {"nosuid", "noexec"},
		"/proc/acpi":     {"ro", "nosuid", "nodev", "noexec"},
	}
	for _, line := range tables["c"] {
		point, opts, _ := strings.Cut(line, " ")
		w, ok := want[point]
		if !ok {
			continue
		}
		delete(want, point)
		have := strings.Split(strings.Fields(opts)[1], ",")
		for _, f := range w {
			if !slices.Contains(have, f) {
				t.Errorf("%s: options %v, want %s among them", point, have, f)
			}
		}
	}
	for point := range want {
		t.Errorf("%s: not mounted in the sandbox", point)
	}
}

// mountFlags reads mountinfo into "MOUNTPOINT FSTYPE OPTIONS" lines, by mount point, a
// point's stack in mountinfo's order.
func mountFlags(mountinfo string) []string {
	var table []string
	for _, line := range strings.Split(strings.TrimSpace(mountinfo), "\n") {
		f := strings.Fields(line)
		sep := slices.Index(f, "-")
		if len(f) < 6 || sep < 0 || sep+1 >= len(f) {
			continue
		}
		table = append(table, f[4]+" "+f[sep+1]+" "+f[5])
	}
	slices.SortStableFunc(table, func(a, b string) int {
		pa, _, _ := strings.Cut(a, " ")
		pb, _, _ := strings.Cut(b, " ")
		return strings.Compare(pa, pb)
	})
	return table
}
