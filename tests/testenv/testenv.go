// Package testenv lets tests state what they need from the host. Missing a need skips the
// test on a developer's laptop, and fails it under CI=true, where every need is provided:
// a skip in CI would hide a gap in enforcement.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// Need is one requirement: a name for messages and a check that says what is missing.
type Need struct {
	Name  string
	Check func() (missing string)
}

// Root needs the test to run as uid 0.
var Root = Need{"root", func() string {
	if os.Geteuid() != 0 {
		return "not running as root"
	}
	return ""
}}

// Command needs an executable on PATH.
func Command(name string) Need {
	return Need{name, func() string {
		if _, err := exec.LookPath(name); err != nil {
			return name + " is not installed"
		}
		return ""
	}}
}

// Nftables needs the nft tool (and so the nftables kernel modules it loads).
var Nftables = Command("nft")

// IP needs iproute2's ip, to make network namespaces.
var IP = Command("ip")

// InCI reports whether the tests run under CI, where every need must be met.
func InCI() bool { return os.Getenv("CI") == "true" }

// Require skips t (or, under CI=true, fails it) unless every need is met.
func Require(t testing.TB, needs ...Need) {
	t.Helper()
	for _, n := range needs {
		if missing := n.Check(); missing != "" {
			if InCI() {
				t.Fatalf("CI=true and requirement %s is not met: %s", n.Name, missing)
			}
			t.Skipf("requirement %s is not met: %s (this is a failure under CI=true)", n.Name, missing)
		}
	}
}

// Missing skips t (or, under CI=true, fails it) for a need found missing only while the
// test runs, such as a filesystem feature: the same rule as Require.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatalf("CI=true and a need is not met: "+format, args...)
	}
	t.Skipf(format+" (this is a failure under CI=true)", args...)
}
