//go:build cgo

package seccomp

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/confine-sandbox/confine/policy/plan"
)

// hangs is a rule set libseccomp 2.5.4 never finishes adding in this order (review24):
// two conditional allows of one syscall, each behind an always-true `ge 0` on argument 0,
// then different arguments, the second's ranked ahead of the first's.
var hangs = &plan.Seccomp{DefaultAction: "errno", DefaultErrno: 1, Rules: []plan.SeccompRule{
	{Syscalls: []string{"mount"}, Action: "allow", Args: []plan.SeccompArg{{Index: 0, Op: "ge", Value: 0}, {Index: 1, Op: "eq", Value: 2}}},
	{Syscalls: []string{"mount"}, Action: "allow", Args: []plan.SeccompArg{{Index: 0, Op: "ge", Value: 0}, {Index: 2, Op: "eq", Value: 2}}},
}}

// TestBuildLimit: a build that passes BuildLimit ends the process with status 1 and says
// which rule it was adding, instead of hanging. The build runs in a child (this test
// binary again): its spinning C thread cannot be stopped otherwise.
func TestBuildLimit(t *testing.T) {
	if os.Getenv("CONFINE_TEST_BUILD_HANG") != "" {
		order = func(r []plan.SeccompRule) []plan.SeccompRule { return r } // the Plan's order
		Build(hangs)
		os.Exit(0) // libseccomp was fixed: the parent sees status 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestBuildLimit$")
	cmd.Env = append(os.Environ(), "CONFINE_TEST_BUILD_HANG=1", "CONFINE_SECCOMP_BUILD_LIMIT=1s")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("the build hung past its limit:\n%s", out)
	case err == nil:
		t.Skip("this libseccomp builds the rule set that 2.5.4 hangs on: nothing to bound")
	case !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "did not build the filter within 1s") || !strings.Contains(string(out), "rules of mount"):
		t.Fatalf("want exit status 1 naming mount: %v\n%s", err, out)
	}
}

// TestBuildOrderEndsHang: in Build's own order the rule set that hangs in the Plan's
// order builds, together with the deny whose widening made it (review24's policy). In a
// child with a short limit, so that a regression fails instead of hanging the suite.
func TestBuildOrderEndsHang(t *testing.T) {
	withDeny := *hangs
	withDeny.Rules = append(slices.Clone(hangs.Rules), plan.SeccompRule{Syscalls: []string{"mount"}, Action: "errno", Errno: 13, Args: []plan.SeccompArg{{Index: 0, Op: "eq", Value: 9}}})
	if os.Getenv("CONFINE_TEST_BUILD_ORDER") != "" {
		for _, s := range []*plan.Seccomp{hangs, &withDeny} {
			if _, err := Build(s); err != nil {
				t.Fatal(err)
			}
		}
		os.Exit(0)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestBuildOrderEndsHang$")
	cmd.Env = append(os.Environ(), "CONFINE_TEST_BUILD_ORDER=1", "CONFINE_SECCOMP_BUILD_LIMIT=5s")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the build in Build's order failed: %v\n%s", err, out)
	}
}
