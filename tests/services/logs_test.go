//go:build linux

package services_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/confine-sandbox/confine/supervisor"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// TestLogsOutliveDown: a component's output is kept beside the audit log, so `confine
// logs` prints it after down; carriage returns and escape sequences are stored as
// written and printed as written when the output is not a terminal.
func TestLogsOutliveDown(t *testing.T) {
	require(t)
	dir := workDir(t)
	// It stays a moment: up -d reports a component gone before its start returned
	// ("exited at once"), which a printf alone may be.
	src := "version: 1\nname: talk\nextends: [service, host-runtime]\nrun:\n  command: [/bin/sh, -c, \"printf 'a\\\\rb\\\\033[31mc\\\\n'; sleep 0.5\"]\nsyscalls: {extends: default}\n"
	os.WriteFile(filepath.Join(dir, "talk.yaml"), []byte(src), 0o644)
	name := testenv.StackName("svc-logs")
	os.WriteFile(filepath.Join(dir, "stack.yaml"), []byte("version: 1\nname: "+name+"\nsubnet: 10.89.8.0/24\ncomponents: [talk.yaml]\n"), 0o644)
	confine(t, "up", "-d", filepath.Join(dir, "stack.yaml"), "--audit-log", filepath.Join(dir, "audit.log"))
	deadline := time.Now().Add(20 * time.Second)
	for {
		var list []supervisor.Status
		json.Unmarshal([]byte(confine(t, "ps", "--json", name)), &list)
		if len(list) == 1 && list[0].State == supervisor.StateExited {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("talk never exited: %+v", list)
		}
		time.Sleep(100 * time.Millisecond)
	}
	confine(t, "down", name)
	want := "a\rb\x1b[31mc\n"
	if got := confine(t, "logs", "--log-dir", filepath.Join(dir, "logs"), name, "talk"); got != want {
		t.Errorf("logs after down: %q, want %q", got, want)
	}
	if got := confine(t, "logs", "--raw", "--log-dir", filepath.Join(dir, "logs"), name, "talk"); got != want {
		t.Errorf("logs --raw after down: %q, want %q", got, want)
	}
	if got := confine(t, "logs", "--tail", "1", "--log-dir", filepath.Join(dir, "logs"), name, "talk"); !strings.Contains(got, "31m") {
		t.Errorf("logs --tail 1: %q", got)
	}
}
