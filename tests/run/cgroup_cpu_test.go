//go:build linux

package run_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/confine-sandbox/confine/tests/testenv"
)

// TestCPULimit: a component that burns CPU under `cpu: 0.01` (1 ms of each 100 ms
// period) is throttled: its cgroup's cpu.stat counts throttled periods while it runs,
// which no cgroup without a quota ever does, and its quota and period are the Plan's.
// The start writes only the quota on v1 (a new cgroup's period is the kernel's
// default): the period read here is what the kernel enforces.
func TestCPULimit(t *testing.T) {
	testenv.Require(t, testenv.Root)
	dir := t.TempDir()
	src := "version: 1\nname: cpucap\nrun: {command: [\"" + probeDir + "/probe\"], user: \"1000:1000\"}\n" +
		"filesystem: {read: [" + probeDir + "]}\nsyscalls: {extends: default}\nresources: {cpu: 0.01}\n"
	file := filepath.Join(dir, "cpucap.yaml")
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(confineBin, "run", file, "--timeout", "20s", "--grace", "100ms", "--", "spin:20s")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
		assertNoCgroups(t)
	}()
	name := fmt.Sprintf("confine/cpucap-%d-1", cmd.Process.Pid)
	cg := filepath.Join("/sys/fs/cgroup/cpu", name) // v1
	quota, period := "cpu.cfs_quota_us", "cpu.cfs_period_us"
	if _, err := os.Stat("/sys/fs/cgroup/cpu"); err != nil {
		cg, quota, period = filepath.Join("/sys/fs/cgroup", name), "cpu.max", "" // v2
	}
	var throttled int
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline) && throttled == 0; time.Sleep(50 * time.Millisecond) {
		throttled = statField(filepath.Join(cg, "cpu.stat"), "nr_throttled")
	}
	if throttled == 0 {
		t.Fatalf("%s: no throttled period while the component spun under cpu 0.01", cg)
	}
	q, _ := os.ReadFile(filepath.Join(cg, quota))
	got := strings.TrimSpace(string(q))
	if period != "" {
		p, _ := os.ReadFile(filepath.Join(cg, period))
		got += " " + strings.TrimSpace(string(p))
	}
	if got != "1000 100000" {
		t.Errorf("%s: quota and period %q, want \"1000 100000\"", cg, got)
	}
}

// statField is the value of key in a flat keyed file, 0 when unreadable or missing.
func statField(file, key string) int {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), key+" "); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}
