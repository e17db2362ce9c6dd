//go:build linux

package run_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/policy"
	"github.com/confine-sandbox/confine/sandbox"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// aheadProbes read the sandbox's mount table and try what its masks and read-only parts
// forbid, and what its devices allow.
var aheadProbes = []string{"cat:/proc/self/mountinfo", "read:/proc/kallsyms", "read:/proc/kcore", "read:/proc/keys",
	"write:/proc/sys/kernel/hostname", "write:/proc/irq/default_smp_affinity", "ls:/proc/acpi", "stat:/proc/acpi", "mode:/dev/null",
	"write:/dev/null", "write:/dev/zero", "mode:/dev/urandom", "stat:/dev", "write:/dev/shm/x", "ls:/proc/sys/kernel"}

// aheadMountEnv names the test that runs in a mount namespace of its own (inOwnMounts).
const aheadMountEnv = "CONFINE_TEST_AHEAD_MOUNTS"

// inOwnMounts re-runs t in a private mount namespace (a re-run of the test binary) and
// says whether this is that run: there no concurrent suite's mount reaches the early
// spawner's table, which would make its spare stale and the start a fresh clone.
func inOwnMounts(t *testing.T) bool {
	t.Helper()
	if os.Getenv(aheadMountEnv) == t.Name() {
		return true
	}
	cmd := exec.Command("/proc/self/exe", "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), aheadMountEnv+"="+t.Name())
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: unix.CLONE_NEWNS} // and / made private
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--- PASS: "+t.Name()+" ")) {
		t.Fatalf("in a mount namespace of its own: %v\n%s", err, out)
	}
	return false
}

// TestSpareMountsAhead: the lone run's spare makes the Plan's /proc, with its masks and
// read-only binds, and clones of the /dev devices ahead (stage_ahead.c), and the
// sandbox's mount tree is the one the C stage of a fresh clone (a stack's spawner,
// whose spare makes nothing ahead) and the Go init build: each mount's place, parent,
// root, flags, propagation, type, source and superblock options. What the masks and
// read-only parts do is the same on each: /proc/kallsyms reads empty, /proc/sys and
// /proc/irq refuse writes, /dev/null is a character device that takes them. The run
// through the spare took the pieces: its trace has proc_ahead, and its mountinfo (which
// lists mounts as made) has /proc, a mask, /dev/null before the root they sit in.
func TestSpareMountsAhead(t *testing.T) {
	testenv.Require(t, testenv.Root)
	skipInGoInitPass(t)
	if !inOwnMounts(t) {
		return
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "ahead.yaml")
	if err := os.WriteFile(file, []byte(probePolicy("", aheadProbes...)), 0o644); err != nil {
		t.Fatal(err)
	}
	runs := map[string]map[string]result{}
	var trace string
	for attempt := 0; attempt < 5 && !strings.Contains(trace, "confine-trace init   proc_ahead "); attempt++ {
		// A spare refused (its table stale: a mount made meanwhile) starts fresh.
		runs["ahead"], trace = runCLI(t, file, "CONFINE_TRACE=1")
	}
	if !strings.Contains(trace, "confine-trace init   proc_ahead ") {
		t.Fatalf("the run did not take the spare's /proc:\n%s", trace)
	}
	runs["go"], _ = runCLI(t, file, "CONFINE_STAGE=go")
	runs["fresh"] = runFresh(t, file)
	mountinfo := runs["ahead"]["cat:/proc/self/mountinfo"].Out
	tables := map[string][]string{}
	for name, res := range runs {
		r := res["cat:/proc/self/mountinfo"]
		if !r.OK {
			t.Fatalf("%s: %+v", name, r)
		}
		tables[name] = mountTree(r.Out)
		delete(res, "cat:/proc/self/mountinfo")
	}
	for _, name := range []string{"go", "fresh"} {
		if !slices.Equal(tables["ahead"], tables[name]) {
			t.Errorf("the mounts made ahead differ from %s's:\nahead: %s\n%s: %s", name,
				strings.Join(tables["ahead"], "\n       "), name, strings.Join(tables[name], "\n       "))
		}
		for probe, r := range runs["ahead"] {
			if o := runs[name][probe]; o.OK != r.OK || o.Out != r.Out || o.Err != r.Err {
				t.Errorf("%s: ahead %+v, %s %+v", probe, r, name, o)
			}
		}
	}
	res := runs["ahead"]
	for probe, ok := range map[string]bool{"read:/proc/kallsyms": true, "write:/proc/sys/kernel/hostname": false,
		"write:/proc/irq/default_smp_affinity": false, "write:/dev/null": true, "write:/dev/zero": true, "write:/dev/shm/x": true} {
		if res[probe].OK != ok {
			t.Errorf("%s: %+v, want ok %v", probe, res[probe], ok)
		}
	}
	for _, probe := range []string{"write:/proc/sys/kernel/hostname", "write:/proc/irq/default_smp_affinity"} {
		if !strings.Contains(res[probe].Err, "read-only file system") {
			t.Errorf("%s: %+v, want it read-only", probe, res[probe])
		}
	}
	if res["read:/proc/kallsyms"].Out != "0" || res["ls:/proc/acpi"].Out != "" || !strings.HasPrefix(res["mode:/dev/null"].Out, "Dc") ||
		!strings.HasPrefix(res["mode:/dev/urandom"].Out, "Dc") || res["ls:/proc/sys/kernel"].Out == "" {
		t.Errorf("masks and devices: %+v", res)
	}
	madeBefore(t, mountinfo)
}

// TestSpareMountsAheadImage: an image run takes the spare's /proc too, attached onto the
// descriptor the stage's check of the image's /proc holds (stage_image.c), and its mount
// tree is the Go init's (but for the run's own upper and work directories).
func TestSpareMountsAheadImage(t *testing.T) {
	testenv.Require(t, testenv.Root)
	skipInGoInitPass(t)
	if !inOwnMounts(t) {
		return
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	store := filepath.Join(dir, "store")
	probeImage(t, filepath.Join(dir, "img"))
	file := filepath.Join(dir, "img.yaml")
	src := "version: 1\nname: imgahead\nrun: {image: oci:./img, user: \"1000:1001\"}\nsyscalls: {extends: default}\n"
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	runDir := regexp.MustCompile(`/runs/run-[0-9]+/`)
	tables := map[string][]string{}
	for _, mode := range []string{"c", "go"} {
		for attempt := 0; attempt < 5; attempt++ {
			code, out, stderr := runStaged(t, store, mode, "run", file, "--", "cat:/proc/self/mountinfo", "read:/proc/kallsyms")
			if code != 0 {
				t.Fatalf("%s: exit %d\n%s", mode, code, stderr)
			}
			r := results(out)["cat:/proc/self/mountinfo"]
			tables[mode] = mountTree(runDir.ReplaceAllString(r.Out, "/runs/RUN/"))
			if mode == "go" || strings.Contains(stderr, "confine-trace init   proc_ahead ") {
				break
			} else if attempt == 4 {
				t.Fatalf("the image run did not take the spare's /proc:\n%s", stderr)
			}
		}
	}
	if !slices.Equal(tables["c"], tables["go"]) {
		t.Errorf("the image's mounts made ahead differ from the Go init's:\nc:  %s\ngo: %s",
			strings.Join(tables["c"], "\n    "), strings.Join(tables["go"], "\n    "))
	}
}

// madeBefore: the run through the spare took its pieces. mountinfo lists mounts by when
// they were made (Linux 6.8 on: by their unique ids), and the pieces made ahead come
// before the root they sit in, where the stage's own mounts come after it.
func madeBefore(t *testing.T, mountinfo string) {
	t.Helper()
	at := map[string]int{}
	for i, line := range strings.Split(strings.TrimSpace(mountinfo), "\n") {
		if f := strings.Fields(line); len(f) > 4 {
			if _, seen := at[f[4]]; !seen {
				at[f[4]] = i
			}
		}
	}
	for _, point := range []string{"/proc", "/proc/kallsyms", "/proc/sys", "/dev/null", "/dev/zero"} {
		if i, ok := at[point]; !ok || i > at["/"] {
			t.Errorf("%s: not made ahead of the root:\n%s", point, mountinfo)
		}
	}
	for _, point := range []string{"/dev", "/dev/shm", "/proc/acpi"} { // their owner is the maps'
		if i, ok := at[point]; !ok || i < at["/"] {
			t.Errorf("%s: made before the root:\n%s", point, mountinfo)
		}
	}
}

// runCLI runs `confine run FILE` with env and returns its probes' results and stderr.
func runCLI(t *testing.T, file string, env ...string) (map[string]result, string) {
	t.Helper()
	cmd := exec.Command(confineBin, "run", file)
	cmd.Env = append(os.Environ(), env...)
	var out strings.Builder
	cmd.Stdout = &out
	code, stderr := exitOf(cmd)
	if code != 0 {
		t.Fatalf("%v: exit %d:\n%s", env, code, stderr)
	}
	return results(out.String()), stderr
}

// runFresh runs the Plan of file through a stack's spawner, in this process: a spare
// that copies the mount table at the request and makes no mount ahead.
func runFresh(t *testing.T, file string) map[string]result {
	t.Helper()
	sp := startSpawner(t)
	s, err := policy.Open(os.DirFS(filepath.Dir(file)), filepath.Base(file))
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	waitSpare(t, sp, 0)
	sb, out := launchWith(t, &p.Components[0], sandbox.Options{Spawner: sp})
	if got, err := sb.Spawned(); !got || err != nil {
		t.Fatalf("not through the spawner: %v", err)
	}
	if code, err := sb.Wait(); code != 0 || err != nil {
		t.Fatalf("exit %d: %v", code, err)
	}
	return results(out.String())
}

var (
	propagationID = regexp.MustCompile(`:[0-9]+`)
	superIDs      = regexp.MustCompile(`\b(uid|gid)=[0-9]+`)
)

// mountTree reads mountinfo into one line a mount, "POINT in PARENT ROOT FLAGS [TAGS] -
// TYPE SOURCE SUPER", in the tree's order: by mount point, a point's stack in its
// order. Mount ids and device numbers are the namespace's and go; so do the numbers of
// peer groups and the host ids in a tmpfs's options (the run's id range).
func mountTree(mountinfo string) []string {
	type mount struct{ id, parent, point, line string }
	var mounts []mount
	points := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(mountinfo), "\n") {
		f := strings.Fields(line)
		sep := slices.Index(f, "-")
		if len(f) < 6 || sep < 6 || sep+3 >= len(f) {
			continue
		}
		tags := propagationID.ReplaceAllString(strings.Join(f[6:sep], " "), "")
		super := superIDs.ReplaceAllString(f[sep+3], "$1=ID")
		mounts = append(mounts, mount{f[0], f[1], f[4], f[3] + " " + f[5] + " [" + tags + "] - " + f[sep+1] + " " + f[sep+2] + " " + super})
		points[f[0]] = f[4]
	}
	slices.SortStableFunc(mounts, func(a, b mount) int { return strings.Compare(a.point, b.point) })
	var tree []string
	for _, m := range mounts {
		tree = append(tree, m.point+" in "+points[m.parent]+" "+m.line)
	}
	return tree
}
