//go:build !confine_slim

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runReport executes `audit report` as the cobra command itself (the `audit` parent is
// wired in elsewhere) and returns the exit status execute would give.
func runReport(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := newAuditReportCmd()
	var out, errb bytes.Buffer
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.Execute()
	var ce *codeError
	switch {
	case err == nil:
		return exitOK, out.String(), errb.String()
	case errors.As(err, &ce):
		return ce.code, out.String(), ce.msg
	}
	return exitPolicy, out.String(), err.Error()
}

func TestAuditReport(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	log := "../../audit/report/testdata/shop.log.jsonl"
	cases := []struct {
		args  []string
		code  int
		inOut string
		inErr string
	}{
		{[]string{"../../examples/shop/stack.yaml"}, 0, "# confine audit report: stack `shop`", ""},
		{[]string{"../../examples/shop/stack.yaml", "--format", "md", "--log", log}, 0, "1 lost-record event(s), 17 record(s) dropped", ""},
		{[]string{"../../examples/shop/stack.yaml", "--format", "html", "--log", log}, 0, `<g class="node component" data-node="api">`, ""},
		{[]string{"../../examples/shop/api.yaml", "--format", "json"}, 0, `"single": true`, ""},
		{[]string{"../../examples/shop/stack.yaml", "--format", "pdf"}, 1, "", `expected md, html or json, found "pdf"`},
		{[]string{"../../examples/bad/paths.yaml"}, 1, "", "run.command[0]"},
		{[]string{"../../examples/bad/oneside.yaml", "--format", "json"}, 1, "", "listen.from does not name web"},
		{[]string{"../../examples/shop/stack.yaml", "--log", "no-such.log"}, 1, "", "--log: audit: open no-such.log"},
		{[]string{}, 1, "", "accepts 1 arg"},
	}
	for _, tc := range cases {
		code, out, errOut := runReport(t, tc.args...)
		name := strings.Join(tc.args, " ")
		if code != tc.code {
			t.Errorf("%s: exit %d, want %d (stderr %q)", name, code, tc.code, errOut)
		}
		if !strings.Contains(out, tc.inOut) {
			t.Errorf("%s: stdout lacks %q", name, tc.inOut)
		}
		if !strings.Contains(errOut, tc.inErr) {
			t.Errorf("%s: stderr lacks %q: %q", name, tc.inErr, errOut)
		}
	}
}

// TestAuditReportOutput: -o writes the file, SOURCE_DATE_EPOCH fixes the time, and the
// same inputs give the same bytes.
func TestAuditReportOutput(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	out := filepath.Join(t.TempDir(), "r.json")
	if code, stdout, errOut := runReport(t, "../../examples/demo/stack.yaml", "--format", "json", "-o", out); code != 0 || stdout != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, errOut)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Generated  string
		Components []struct{ Name string }
	}
	if err := json.Unmarshal(data, &r); err != nil || r.Generated != "2023-11-14T22:13:20Z" || len(r.Components) != 3 {
		t.Fatalf("report: %v, generated %q, %d components", err, r.Generated, len(r.Components))
	}
	if _, again, _ := runReport(t, "../../examples/demo/stack.yaml", "--format", "json"); again != string(data) {
		t.Error("two reports of the same inputs differ")
	}
	t.Setenv("SOURCE_DATE_EPOCH", "yesterday")
	if code, _, errOut := runReport(t, "../../examples/demo/stack.yaml"); code != 1 || !strings.Contains(errOut, "SOURCE_DATE_EPOCH") {
		t.Errorf("a bad SOURCE_DATE_EPOCH: exit %d, %q", code, errOut)
	}
}
