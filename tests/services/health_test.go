//go:build linux

package services_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/confine-sandbox/confine/supervisor"
)

// TestHealthExec: an exec health check runs its command as the component (a second
// sandbox of its Plan): exit 0 is healthy, a failure unhealthy. (TestPostgres's
// pg_isready reaches 127.0.0.1 only because the check shares the component's network
// namespace.)
func TestHealthExec(t *testing.T) {
	require(t)
	dir := workDir(t)
	for name, check := range map[string]string{"fine": "/usr/bin/true", "sick": "/usr/bin/false"} {
		src := "version: 1\nname: " + name + "\nextends: [service, host-runtime]\nrun:\n  command: [/usr/bin/sleep, \"3600\"]\n" +
			"  health: {exec: [" + check + "], interval: 200ms, timeout: 5s, retries: 1}\nsyscalls: {extends: default}\n"
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s := &service{dir: dir, stack: "svc-health-" + itoa(os.Getpid()%100000)}
	stack := "version: 1\nname: " + s.stack + "\nsubnet: 10.89.9.0/24\ncomponents: [fine.yaml, sick.yaml]\n"
	if err := os.WriteFile(filepath.Join(dir, "stack.yaml"), []byte(stack), 0o644); err != nil {
		t.Fatal(err)
	}
	confine(t, "up", "-d", filepath.Join(dir, "stack.yaml"), "--audit-log", filepath.Join(dir, "audit.log"))
	t.Cleanup(func() { confine(t, "down", "--grace", "2s", s.stack) })
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
