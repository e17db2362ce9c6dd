//go:build linux

package services_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/confine-sandbox/confine/supervisor"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// TestHealthExec: an exec health check runs its command inside the component, as confine
// exec does: exit 0 is healthy, a failure unhealthy. `up` waits for every
// check to pass, so "sick" starts healthy and falls ill when the file its check looks for
// goes. (TestPostgres's pg_isready reaches 127.0.0.1 only because the check is in the
// component's network namespace.)
func TestHealthExec(t *testing.T) {
	require(t)
	dir := workDir(t)
	// Not under /tmp, over which the service profile puts a tmpfs.
	flags, err := os.MkdirTemp("/var/tmp", "confine-health-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(flags) })
	os.Chmod(flags, 0o755)
	flag := filepath.Join(flags, "ok")
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for name, check := range map[string]string{"fine": "/usr/bin/true", "sick": "/usr/bin/test, -e, " + flag} {
		src := "version: 1\nname: " + name + "\nextends: [service, host-runtime]\nrun:\n  command: [/usr/bin/sleep, \"3600\"]\n" +
			"  health: {exec: [" + check + "], interval: 200ms, timeout: 5s, retries: 1}\nfilesystem: {read: [" + flags + "]}\nsyscalls: {extends: default}\n"
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s := &service{dir: dir, stack: testenv.StackName("svc-health")}
	stack := "version: 1\nname: " + s.stack + "\nsubnet: 10.89.9.0/24\ncomponents: [fine.yaml, sick.yaml]\n"
	if err := os.WriteFile(filepath.Join(dir, "stack.yaml"), []byte(stack), 0o644); err != nil {
		t.Fatal(err)
	}
	confine(t, "up", "-d", filepath.Join(dir, "stack.yaml"), "--audit-log", filepath.Join(dir, "audit.log"))
	t.Cleanup(func() { confine(t, "down", "--grace", "2s", s.stack) })
	if err := os.Remove(flag); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"fine": supervisor.HealthHealthy, "sick": supervisor.HealthUnhealthy}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var list []supervisor.Status
		if err := json.Unmarshal([]byte(confine(t, "ps", "--json", s.stack)), &list); err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, st := range list {
			got[st.Name] = st.Health
		}
		if got["fine"] == want["fine"] && got["sick"] == want["sick"] {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("health %v, want %v", got, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
