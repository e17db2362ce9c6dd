//go:build !confine_slim

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/confine-sandbox/confine/audit"
)

func TestAuditVerify(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	w, err := audit.OpenWriter(path, audit.WriterOptions{MaxBytes: 1 << 10})
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		w.Append(audit.Record{Kind: audit.KindDenial, Component: "api", Details: map[string]any{audit.DetailWhat: "syscall mount"}})
	}
	_, head := w.Head()
	w.Close()
	if len(audit.LogFiles(path)) < 3 {
		t.Fatal("the log did not rotate")
	}

	code, out, errOut := run("audit", "verify", path)
	if code != 0 || !strings.HasPrefix(out, "ok: ") || !strings.Contains(out, "records, seq 1..") || !strings.Contains(out, ", closed\n") {
		t.Fatalf("valid log: exit %d, %q %q", code, out, errOut)
	}
	if code, out, _ := run("audit", "verify", path, "--head", head); code != 0 || !strings.Contains(out, "in the chain") {
		t.Errorf("--head: exit %d, %q", code, out)
	}
	code, out, _ = run("audit", "verify", path, "--json")
	var res audit.VerifyResult
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || !res.Closed || res.Bad != nil {
		t.Errorf("--json: exit %d, %q", code, out)
	}

	// Delete the fifth line of the oldest file: exit 1, naming file:line, seq and why.
	oldest := audit.LogFiles(path)[0]
	data, _ := os.ReadFile(oldest)
	lines := strings.SplitAfter(string(data), "\n")
	os.WriteFile(oldest, []byte(strings.Join(append(lines[:4], lines[5:]...), "")), 0o600)
	code, _, errOut = run("audit", "verify", path)
	if want := oldest + ":5: seq 6: seq 6 follows 4: a record was deleted"; code != 1 || !strings.Contains(errOut, want) {
		t.Errorf("tampered log: exit %d, %q, want %q", code, errOut, want)
	}
	code, out, _ = run("audit", "verify", path, "--json")
	if code != 1 || json.Unmarshal([]byte(out), &res) != nil || res.Bad == nil || res.Bad.Line != 5 || res.Bad.Seq != 6 {
		t.Errorf("tampered log --json: exit %d, %q", code, out)
	}
	if code, _, errOut := run("audit", "verify", filepath.Join(dir, "none.log")); code != 1 || !strings.Contains(errOut, "no such log") {
		t.Errorf("missing log: exit %d, %q", code, errOut)
	}
}
