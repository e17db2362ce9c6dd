//go:build !confine_slim

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

const diffData = "../../audit/diff/testdata/diff/"

// runDiff executes the audit diff command alone and maps its error to an exit status
// as execute does.
func runDiff(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	cmd := newAuditDiffCmd()
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	err := cmd.Execute()
	var ce *codeError
	switch {
	case err == nil:
	case errors.As(err, &ce):
		code = ce.code
		if ce.msg != "" {
			fmt.Fprintln(&errb, ce.msg)
		}
	default:
		code = exitPolicy
		fmt.Fprintln(&errb, "confine:", err)
	}
	return code, out.String(), errb.String()
}

// TestAuditDiffExit: 0 when nothing grew, 1 with the diff on stdout when something did,
// 1 with nothing on stdout and the reason on stderr when an input is bad.
func TestAuditDiffExit(t *testing.T) {
	v1, v2, narrow := diffData+"api-v1.yaml", diffData+"api-v2.yaml", diffData+"api-narrow.yaml"
	cases := []struct {
		args         []string
		code         int
		inOut, inErr string
	}{
		{[]string{v1, v1}, 0, "no new privileges", ""},
		{[]string{v1, v2}, 1, "grants more: 4 additions in 1 component", ""},
		{[]string{v1, narrow}, 0, "no new privileges; takes away 3", ""},
		{[]string{v1, v2, "--format", "json"}, 1, `"grants": 4`, ""},
		{[]string{diffData + "shop-v1/stack.yaml", diffData + "shop-v2/stack.yaml"}, 1, "### worker (added", ""},
		{[]string{v1, "no-such.yaml"}, 1, "", "no-such.yaml"},
		{[]string{v1, "../../examples/bad/paths.yaml"}, 1, "", "run.command[0]"},
		{[]string{v1, v2, "--format", "html"}, 1, "", `expected md or json, found "html"`},
		{[]string{v1}, 1, "", "accepts 2 arg(s)"},
	}
	for _, tc := range cases {
		code, out, errOut := runDiff(tc.args...)
		name := strings.Join(tc.args, " ")
		if code != tc.code {
			t.Errorf("%s: exit %d, want %d (stderr %q)", name, code, tc.code, errOut)
		}
		if !strings.Contains(out, tc.inOut) || !strings.Contains(errOut, tc.inErr) {
			t.Errorf("%s: stdout lacks %q or stderr lacks %q:\n%s\n%s", name, tc.inOut, tc.inErr, out, errOut)
		}
		// Growth and errors share status 1; the streams tell them apart.
		if tc.inErr == "" && errOut != "" || tc.inErr != "" && out != "" {
			t.Errorf("%s: stdout %q, stderr %q: want one of them empty", name, out, errOut)
		}
	}
}

// TestAuditDiffPlans: a Plan that compile --format json wrote diffs as its policy does,
// from a file or from a pipe; a bad Plan is refused naming the file, not --plan.
func TestAuditDiffPlans(t *testing.T) {
	code, planJSON, _ := run("compile", diffData+"api-v1.yaml")
	if code != 0 {
		t.Fatalf("compile: exit %d", code)
	}
	dir := t.TempDir()
	planFile := filepath.Join(dir, "api-v1.plan.json")
	if err := os.WriteFile(planFile, []byte(planJSON), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runDiff(planFile, diffData+"api-v1.yaml"); code != 0 || !strings.Contains(out, "no new privileges") {
		t.Errorf("plan against its policy: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, _ := runDiff(planFile, diffData+"api-v2.yaml", "--format", "json"); code != 1 || !json.Valid([]byte(out)) {
		t.Errorf("plan against v2: exit %d\n%s", code, out)
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(strings.Replace(planJSON, `"version": 1`, `"version": 99`, 1)), 0o644)
	if code, out, errOut := runDiff(bad, planFile); code != 1 || out != "" || !strings.Contains(errOut, "confine: "+bad+": plan format 99") {
		t.Errorf("bad plan: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if runtime.GOOS != "linux" {
		return
	}
	// A pipe, as <(git show main:api.yaml) gives: read once, compiled as the file it holds.
	for _, tc := range []struct {
		src  string
		code int
	}{{planJSON, 0}, {mustRead(t, diffData+"api-v2.yaml"), 1}} {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		go func() { w.WriteString(tc.src); w.Close() }()
		code, out, errOut := runDiff(diffData+"api-v1.yaml", fmt.Sprintf("/dev/fd/%d", r.Fd()))
		r.Close()
		if code != tc.code || strings.Contains(out+errOut, "confine-diff-") {
			t.Errorf("pipe: exit %d, want %d\n%s%s", code, tc.code, out, errOut)
		}
	}
}

func mustRead(t *testing.T, file string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
