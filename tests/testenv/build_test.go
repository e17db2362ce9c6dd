package testenv

import (
	"os"
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
	if !regexp.MustCompile(`(?m)^\t\$\(GO\) build \$\(BUILD_FLAGS\) -o bin/confine ./cmd/confine$`).Match(data) {
		t.Error("make build does not build bin/confine with $(BUILD_FLAGS)")
	}
	m = regexp.MustCompile(`(?m)^SLIM_FLAGS := (.*)$`).FindSubmatch(data)
	if m == nil {
		t.Fatal("the Makefile sets no SLIM_FLAGS")
	}
	if got := strings.Fields(string(m[1])); !slices.Equal(got, SlimBuildFlags) {
		t.Errorf("the Makefile's SLIM_FLAGS are %q, testenv.SlimBuildFlags %q", got, SlimBuildFlags)
	}
	if !regexp.MustCompile(`(?m)^\t\$\(GO\) build \$\(SLIM_FLAGS\) -o bin/confine-run ./cmd/confine$`).Match(data) {
		t.Error("make build does not build bin/confine-run with $(SLIM_FLAGS)")
	}
}
