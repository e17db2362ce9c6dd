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
// RCU grace period, are the difference), and with the C stage through the spawner
// (Options.Spawner), against bwrap --unshare-all, interleaved
// round by round so that a drifting load weighs on all alike. It reports the medians and
// their ratios to bwrap's.
//
//	go test ./tests/run -run '^$' -bench Spawn -benchtime 60x
func BenchmarkSpawn(b *testing.B) {
	rootfs, compile := spawnSetup(b)
	src := spawnPolicy(rootfs)
	full, nocg := compile(src+"resources: {memory: 64Mi, pids: 16, cpu: 0.5}\n"), compile(src)
	spawn := func(c *plan.Component, mode string) time.Duration {
		b.Setenv("CONFINE_STAGE", mode)
		return spawnOnce(b, c, sandbox.Options{})
	}
	sp := benchSpawner(b)
	var tb, tc, tg, tn, ts []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tb = append(tb, bwrapTrue(b, rootfs))
		tc = append(tc, spawn(full, "c"))
		tg = append(tg, spawn(full, "go"))
		tn = append(tn, spawn(nocg, "c"))
		b.Setenv("CONFINE_STAGE", "c")
		ts = append(ts, spawnOnce(b, full, sandbox.Options{Spawner: sp}))
	}
	b.StopTimer()
	reportRatios(b, []string{"bwrap", "c-stage", "go-init", "c-no-cgroup", "spawner"}, tb, tc, tg, tn, ts)
}

// BenchmarkRestart times a restart as a stack's supervisor makes it: sandbox.Launch to
// Wait of the C stage's static /true under the full policy, with the cgroup kept from
// the run before (Options.Keep, as supervisor/component.go passes it: no make, no
// removal at the exit), against the same spawn with a new cgroup each time, one without
// resources (no cgroup at all), the kept and the no-cgroup spawns through the spawner
// (Options.Spawner, as a stack's supervisor passes it), and bwrap --unshare-all,
// interleaved round by round. It reports the medians and their ratios to bwrap's.
//
//	go test ./tests/run -run '^$' -bench Restart -benchtime 100x
func BenchmarkRestart(b *testing.B) {
	rootfs, compile := spawnSetup(b)
	src := spawnPolicy(rootfs)
	full, nocg := compile(src+"resources: {memory: 64Mi, pids: 16, cpu: 0.5}\n"), compile(src)
	b.Setenv("CONFINE_STAGE", "c")
	keep := &sandbox.KeptCgroup{}
	defer keep.Delete()
	sp := benchSpawner(b)
	spawned := &sandbox.KeptCgroup{}
	defer spawned.Delete()
	spawnOnce(b, full, sandbox.Options{Keep: keep}) // the first run makes what the next keep
	spawnOnce(b, full, sandbox.Options{Keep: spawned, Spawner: sp})
	runs := []func() time.Duration{
		func() time.Duration { return bwrapTrue(b, rootfs) },
		func() time.Duration { return spawnOnce(b, full, sandbox.Options{Keep: keep}) },
		func() time.Duration { return spawnOnce(b, full, sandbox.Options{}) },
		func() time.Duration { return spawnOnce(b, nocg, sandbox.Options{}) },
		func() time.Duration { return spawnOnce(b, full, sandbox.Options{Keep: spawned, Spawner: sp}) },
		func() time.Duration { return spawnOnce(b, nocg, sandbox.Options{Spawner: sp}) },
	}
	times := make([][]time.Duration, len(runs))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// bwrap first, then the spawns in an order that turns each round: none always
		// follows the same one.
		times[0] = append(times[0], runs[0]())
		for k := range len(runs) - 1 {
			j := 1 + (i+k)%(len(runs)-1)
			times[j] = append(times[j], runs[j]())
		}
	}
	b.StopTimer()
	reportRatios(b, []string{"bwrap", "kept-cgroup", "new-cgroup", "no-cgroup", "spawner-kept", "spawner-no-cgroup"}, times...)
}

// benchSpawner starts the spawner a stack's supervisor runs (Options.Spawner).
func benchSpawner(b *testing.B) *sandbox.Spawner {
	sp, err := sandbox.StartSpawner()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(sp.Close)
	return sp
}

// spawnSetup builds a static /true in a rootfs of its own and returns it with a
// compiler of policies.
func spawnSetup(b *testing.B) (string, func(string) *plan.Component) {
	testenv.Require(b, testenv.Root, testenv.Command("bwrap"), testenv.Command("gcc"))
	dir := b.TempDir()
	rootfs := filepath.Join(dir, "rootfs")
	os.Mkdir(rootfs, 0o755)
	os.WriteFile(filepath.Join(dir, "true.c"), []byte("int main(void){return 0;}\n"), 0o644)
	if out, err := exec.Command("gcc", "-static", "-O2", "-o", filepath.Join(rootfs, "true"), filepath.Join(dir, "true.c")).CombinedOutput(); err != nil {
		b.Skipf("no static libc to build /true: %v\n%s", err, out)
	}
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
	return rootfs, compile
}

// spawnPolicy is bench/run.sh's policy of /true, without its resources.
func spawnPolicy(rootfs string) string {
	return "version: 1\nname: spawn\nrun: {command: [/true], rootfs: " + rootfs + ", user: \"1000\"}\n" +
		"filesystem: {read: [/true]}\nsyscalls: {extends: default}\n"
}

// spawnOnce times sandbox.Launch to Wait (the exit reaped and released) of c.
func spawnOnce(b *testing.B, c *plan.Component, opts sandbox.Options) time.Duration {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	t := time.Now()
	sb, err := sandbox.Launch(context.Background(), c, opts, nil)
	if err != nil {
		b.Fatal(err)
	}
	if code, err := sb.Wait(); err != nil || code != 0 {
		b.Fatalf("exit %d, %v", code, err)
	}
	return time.Since(t)
}

// bwrapTrue times bwrap --unshare-all's start-to-exit of the same /true.
func bwrapTrue(b *testing.B, rootfs string) time.Duration {
	t := time.Now()
	if err := exec.Command("bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--ro-bind", rootfs, "/", "/true").Run(); err != nil {
		b.Fatalf("bwrap: %v", err)
	}
	return time.Since(t)
}

// reportRatios reports each series' median and, past the first (the baseline), its
// ratio to the baseline's, and the median of the per-round ratios.
func reportRatios(b *testing.B, names []string, series ...[]time.Duration) {
	base := series[0]
	mb := ms(median(base))
	for i, ds := range series {
		b.ReportMetric(ms(median(ds)), names[i]+"-ms")
		if i == 0 {
			continue
		}
		b.ReportMetric(ms(median(ds))/mb, names[i]+"/bwrap")
		per := make([]time.Duration, len(ds))
		for r := range ds {
			per[r] = time.Duration(float64(ds[r]) / float64(base[r]) * 1000) // ‰, as a Duration to reuse median
		}
		b.ReportMetric(float64(median(per))/1000, names[i]+"/bwrap-per-round")
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
