//go:build linux

package run_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"testing/fstest"
	"time"

	"github.com/confine-sandbox/confine/policy"
	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/sandbox"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// BenchmarkSpawn times the supervisor's own spawn of a static /true under the full policy
// (sandbox.Launch to Wait, no CLI start, as a stack's restart does), with the C stage and
// with the Go init, and with the C stage without resources (no cgroup: the make and
// removal of the cgroup, and for the Go init on a v1 host the supervisor's attach and its
// RCU grace period, are the difference), against bwrap --unshare-all, interleaved
// round by round so that a drifting load weighs on all alike. It reports the medians and
// their ratios to bwrap's.
//
//	go test ./tests/run -run '^$' -bench Spawn -benchtime 60x
func BenchmarkSpawn(b *testing.B) {
	testenv.Require(b, testenv.Root, testenv.Command("bwrap"), testenv.Command("gcc"))
	dir := b.TempDir()
	rootfs := filepath.Join(dir, "rootfs")
	os.Mkdir(rootfs, 0o755)
	os.WriteFile(filepath.Join(dir, "true.c"), []byte("int main(void){return 0;}\n"), 0o644)
	if out, err := exec.Command("gcc", "-static", "-O2", "-o", filepath.Join(rootfs, "true"), filepath.Join(dir, "true.c")).CombinedOutput(); err != nil {
		b.Skipf("no static libc to build /true: %v\n%s", err, out)
	}
	src := "version: 1\nname: spawn\nrun: {command: [/true], rootfs: " + rootfs + ", user: \"1000\"}\n" +
		"filesystem: {read: [/true]}\nsyscalls: {extends: default}\n"
	compile := func(src string) *plan.Component {
		s, err := policy.Open(fstest.MapFS{"spawn.yaml": {Data: []byte(src)}}, "spawn.yaml")
		if err != nil {
			b.Fatal(err)
		}
		p, err := policy.Compile(s)
		if err != nil {
			b.Fatal(err)
		}
		return &p.Components[0]
	}
	full, nocg := compile(src+"resources: {memory: 64Mi, pids: 16, cpu: 0.5}\n"), compile(src)
	spawn := func(c *plan.Component, mode string) time.Duration {
		b.Setenv("CONFINE_STAGE", mode)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		t := time.Now()
		sb, err := sandbox.Launch(context.Background(), c, sandbox.Options{}, nil)
		if err != nil {
			b.Fatalf("%s: %v", mode, err)
		}
		if code, err := sb.Wait(); err != nil || code != 0 {
			b.Fatalf("%s: exit %d, %v", mode, code, err)
		}
		return time.Since(t)
	}
	bwrap := func() time.Duration {
		t := time.Now()
		if err := exec.Command("bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--ro-bind", rootfs, "/", "/true").Run(); err != nil {
			b.Fatalf("bwrap: %v", err)
		}
		return time.Since(t)
	}
	var tb, tc, tg, tn []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tb = append(tb, bwrap())
		tc = append(tc, spawn(full, "c"))
		tg = append(tg, spawn(full, "go"))
		tn = append(tn, spawn(nocg, "c"))
	}
	b.StopTimer()
	mb := ms(median(tb))
	for _, m := range []struct {
		name string
		ds   []time.Duration
	}{{"bwrap", tb}, {"c-stage", tc}, {"go-init", tg}, {"c-no-cgroup", tn}} {
		b.ReportMetric(ms(median(m.ds)), m.name+"-ms")
		if m.name != "bwrap" {
			b.ReportMetric(ms(median(m.ds))/mb, m.name+"/bwrap")
		}
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
