//go:build !confine_slim

package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func run(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = execute(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCommands(t *testing.T) {
	cases := []struct {
		args  []string
		code  int
		inOut string
		inErr string
	}{
		{[]string{"check", "../../examples/shop/stack.yaml"}, 0, "stack.yaml: ok", ""},
		{[]string{"check", "../../examples/shop/stack.yaml", "../../examples/bad/ports.yaml"}, 1, "", "../../examples/bad/ports.yaml:9:13: network.listen[0].port: expected a port from 1 to 65535"},
		{[]string{"check", "../../examples/bad/oneside.yaml"}, 1, "", "but ledger's listen.from does not name web (../../examples/bad/oneside/ledger.yaml:9:13)"},
		{[]string{"check", "no-such-file.yaml"}, 1, "", "no-such-file.yaml"},
		{[]string{"check"}, 1, "", "requires at least 1 arg"},
		{[]string{"explain", "../../examples/shop/stack.yaml"}, 0, "Component api", ""},
		{[]string{"explain", "../../examples/bad/paths.yaml"}, 1, "", "run.command[0]"},
		{[]string{"compile", "../../examples/shop/api.yaml", "--format", "nft"}, 0, "table inet confine {", ""},
		{[]string{"compile", "../../examples/shop/stack.yaml", "--format", "nft"}, 0, "table inet confine_shop {", ""},
		{[]string{"compile", "../../examples/shop/stack.yaml", "--format", "bpf"}, 1, "", "choose one with --component (frontend, api, db)"},
		{[]string{"compile", "../../examples/shop/stack.yaml", "--format", "bpf", "--component", "nope"}, 1, "", `no component "nope"`},
		{[]string{"compile", "../../examples/shop/api.yaml", "--format", "yaml"}, 1, "", `expected json, bpf or nft, found "yaml"`},
		{[]string{"version"}, 0, "plan format 1", ""},
		{[]string{"preflight", "../../examples/bad/paths.yaml"}, 1, "", "run.command[0]"},
		{[]string{"frobnicate"}, 1, "", "unknown command"},
		{[]string{"compile", "--help"}, 0, "--format json", ""},
	}
	for _, tc := range cases {
		code, out, errOut := run(tc.args...)
		name := strings.Join(tc.args, " ")
		if code != tc.code {
			t.Errorf("%s: exit %d, want %d (stderr %q)", name, code, tc.code, errOut)
		}
		if !strings.Contains(out, tc.inOut) {
			t.Errorf("%s: stdout lacks %q:\n%s", name, tc.inOut, out)
		}
		if !strings.Contains(errOut, tc.inErr) {
			t.Errorf("%s: stderr lacks %q:\n%s", name, tc.inErr, errOut)
		}
	}
}

func TestCompileOutputs(t *testing.T) {
	code, out, _ := run("compile", "../../examples/shop/stack.yaml")
	var p struct {
		Version    int
		Components []struct{ Name string }
	}
	if code != 0 || json.Unmarshal([]byte(out), &p) != nil || p.Version != 1 || len(p.Components) != 3 {
		t.Fatalf("compile json: exit %d, %d components", code, len(p.Components))
	}
	code, out, _ = run("compile", "../../examples/shop/stack.yaml", "--format", "bpf", "--component", "db")
	if code != 0 || len(out) == 0 || len(out)%8 != 0 {
		t.Fatalf("compile bpf: exit %d, %d bytes (want a whole number of 8-byte instructions)", code, len(out))
	}
	_, again, _ := run("compile", "../../examples/shop/stack.yaml", "--format", "bpf", "--component", "db")
	if again != out {
		t.Fatal("two compiles gave different programs")
	}
}

// TestReadPlan: run --plan reads what compile --format json writes, and refuses another
// format version or a program that does not match its hash.
func TestReadPlan(t *testing.T) {
	code, out, _ := run("compile", "../../examples/shop/api.yaml")
	if code != 0 {
		t.Fatalf("compile: exit %d", code)
	}
	dir := t.TempDir()
	write := func(name, data string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	if p, err := readPlan(write("ok.json", out)); err != nil || len(p.Components) != 1 || len(p.Components[0].Seccomp.Program) == 0 {
		t.Fatalf("readPlan: %v", err)
	}
	for name, tc := range map[string]struct{ data, want string }{
		"version": {strings.Replace(out, `"version": 1`, `"version": 99`, 1), "plan format 99"},
		"hash":    {strings.Replace(out, `"program_sha256": "`, `"program_sha256": "00`, 1), "does not match its program_sha256"},
		"unknown": {strings.Replace(out, `"version": 1`, `"version": 1, "extra": true`, 1), "unknown field"},
		"missing": {"", "EOF"},
	} {
		_, err := readPlan(write(name+".json", tc.data))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error with %q", name, err, tc.want)
		}
	}
	if code, _, errOut := run("run", "--plan", filepath.Join(dir, "none.json")); code != 1 || !strings.Contains(errOut, "--plan") {
		t.Errorf("run --plan of a missing file: exit %d, %q", code, errOut)
	}
}

// A component's output cannot drive the operator's terminal: control characters are
// replaced, tabs and text stay.
func TestPrintable(t *testing.T) {
	in := "ok\tline\x1b[2J\x1b]0;title\x07\rfake prefix | \u009b"
	if got, want := printable(in), "ok\tline\ufffd[2J\ufffd]0;title\ufffd\ufffdfake prefix | \ufffd"; got != want {
		t.Errorf("printable(%q) = %q, want %q", in, got, want)
	}
}
