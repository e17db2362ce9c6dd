// Package tests holds checks over the whole tree; its subpackages hold the end-to-end
// tests that need root and a real kernel.
package tests

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/confine-sandbox/confine"

// TestApplySideReadsOnlyThePlan holds the pipeline's seam: what runs after compile
// imports policy/plan, never policy, so nothing there can re-read the YAML.
func TestApplySideReadsOnlyThePlan(t *testing.T) {
	for _, pkg := range []string{"netfilter", "explain", "sandbox", "host", "audit", "export"} {
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

// cgoPackages are the only packages with cgo: libseccomp's bindings, and the C init
// stage run from a constructor before the Go runtime (sandbox/stage).
var cgoPackages = map[string]bool{module + "/policy/seccomp": true, module + "/sandbox/stage": true}

// TestOnlySeccompUsesCgo keeps cgo in policy/seccomp and the C stage alone.
func TestOnlySeccompUsesCgo(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{len .CgoFiles}}", module+"/...").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[1] != "0" && !cgoPackages[f[0]] {
			t.Errorf("%s has cgo files; only policy/seccomp and sandbox/stage may", f[0])
		}
	}
}
