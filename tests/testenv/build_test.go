package testenv

import (
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestBuildFlags: the suites build confine as `make build` does, so that they test the
// binary the Makefile makes.
func TestBuildFlags(t *testing.T) {
	data, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^BUILD_FLAGS := (.*)$`).FindSubmatch(data)
	if m == nil {
		t.Fatal("the Makefile sets no BUILD_FLAGS")
	}
	if got := strings.Fields(string(m[1])); !slices.Equal(got, BuildFlags) {
		t.Errorf("the Makefile's BUILD_FLAGS are %q, testenv.BuildFlags %q", got, BuildFlags)
	}
	if !regexp.MustCompile(`(?m)^\t\$\(GO\) build \$\(BUILD_FLAGS\) -o bin/confine-full ./cmd/confine$`).Match(data) {
		t.Error("make build does not build bin/confine-full with $(BUILD_FLAGS)")
	}
	m = regexp.MustCompile(`(?m)^SLIM_FLAGS := (.*)$`).FindSubmatch(data)
	if m == nil {
		t.Fatal("the Makefile sets no SLIM_FLAGS")
	}
	if got := strings.Fields(string(m[1])); !slices.Equal(got, SlimBuildFlags) {
		t.Errorf("the Makefile's SLIM_FLAGS are %q, testenv.SlimBuildFlags %q", got, SlimBuildFlags)
	}
	if !regexp.MustCompile(`(?m)^\t\$\(GO\) build \$\(SLIM_FLAGS\) -ldflags="-extldflags=-static -B 0x\$\(PAIR\)" -o bin/confine ./cmd/confine$`).Match(data) {
		t.Error("make build does not build bin/confine with $(SLIM_FLAGS), static and paired (SlimLinkFlag)")
	}
	// The Makefile's PAIR, run on this test binary, is Pair's.
	m = regexp.MustCompile(`(?m)^PAIR = \$\$\((.*)\)$`).FindSubmatch(data)
	if m == nil {
		t.Fatal("the Makefile sets no PAIR")
	}
	script := strings.NewReplacer("$(GO)", "go", "bin/confine-full", os.Args[0]).Replace(string(m[1]))
	out, err := exec.Command("sh", "-c", script).Output()
	if err != nil {
		t.Fatalf("the Makefile's PAIR: %v", err)
	}
	if want, err := Pair(os.Args[0]); err != nil || string(out) != want {
		t.Errorf("the Makefile's PAIR is %q, Pair %q (%v)", out, want, err)
	}
}
