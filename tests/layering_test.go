// Package tests holds checks over the whole tree; its subpackages hold the end-to-end
// tests that need root and a real kernel.
package tests

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/confine-sandbox/confine"

// TestApplySideReadsOnlyThePlan holds the pipeline's seam: what runs after compile
// imports policy/plan, never policy, so nothing there can re-read the YAML.
func TestApplySideReadsOnlyThePlan(t *testing.T) {
	for _, pkg := range []string{"netfilter", "explain", "sandbox", "host", "audit", "audit/privileges", "audit/report", "audit/diff", "export"} {
		out, err := exec.Command("go", "list", "-deps", module+"/"+pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			if dep == module+"/policy" {
				t.Errorf("%s imports %s/policy; it must read only policy/plan", pkg, module)
			}
		}
	}
}

// TestAuditLayers keeps audit/'s three concerns apart: the log (audit) imports neither
// the report nor the diff, the report and the diff not each other, and the privileges
// read off a Plan, which all of them share, import no audit package.
func TestAuditLayers(t *testing.T) {
	forbidden := map[string][]string{
		"audit":            {"audit/report", "audit/diff"},
		"audit/report":     {"audit/diff"},
		"audit/diff":       {"audit/report", "audit"},
		"audit/privileges": {"audit", "audit/report", "audit/diff"},
	}
	for pkg, not := range forbidden {
		out, err := exec.Command("go", "list", "-deps", module+"/"+pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		deps := strings.Fields(string(out))
		for _, n := range not {
			if slices.Contains(deps, module+"/"+n) {
				t.Errorf("%s imports %s", pkg, n)
			}
		}
	}
}

// TestOnlySeccompUsesCgo keeps cgo in policy/seccomp (libseccomp) and sandbox/nsenter
// (confine exec's stage, which must run before the Go runtime).
func TestOnlySeccompUsesCgo(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{len .CgoFiles}}", module+"/...").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[1] != "0" && f[0] != module+"/policy/seccomp" && f[0] != module+"/sandbox/nsenter" {
			t.Errorf("%s has cgo files; only policy/seccomp and sandbox/nsenter (confine exec's pre-runtime stage) may", f[0])
		}
	}
}
