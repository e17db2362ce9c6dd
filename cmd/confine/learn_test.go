//go:build !confine_slim

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLearnUsage: learn refuses what it cannot run, before running anything, and writes
// no file.
func TestLearnUsage(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "p.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("version: 1\nname: x\nrun: [oops]\n"), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"learn", "--", "/bin/true"}, "learn needs -o POLICY.yaml"},
		{[]string{"learn", "-o", out}, "a command to learn"},
		{[]string{"learn", "-o", out, "extra", "--", "/bin/true"}, "no arguments before --"},
		{[]string{"learn", "-o", out, "--policy", filepath.Join(dir, "missing.yaml")}, "--policy"},
		{[]string{"learn", "-o", out, "--policy", bad}, "run"},
	} {
		code, _, stderr := run(c.args...)
		if code != 1 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 1 and %q", c.args, code, stderr, c.want)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("a refused learn wrote %s", out)
	}
}
