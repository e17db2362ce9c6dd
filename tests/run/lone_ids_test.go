//go:build linux

package run_test

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/confine-sandbox/confine/tests/testenv"
)

// TestLoneRunsOwnRanges: two `confine run`s of one component at once run as different
// host uids (the second leases a range of its own), and a run after the first has ended
// gets the first's range again.
func TestLoneRunsOwnRanges(t *testing.T) {
	testenv.Require(t, testenv.Root)
	dir := t.TempDir()
	// A name of its own: no other test runs this component.
	src := strings.Replace(probePolicy(""), "name: rootless", "name: loneranges", 1)
	src = strings.Replace(src, "command: [\""+probeDir+"/probe\"]", "command: [\""+probeDir+"/probe\", \"cat:/proc/self/uid_map\"]", 1)
	file := filepath.Join(dir, "loneranges.yaml")
	os.WriteFile(file, []byte(src), 0o644)
	hostUID := func(line string) int {
		var r result
		if err := json.Unmarshal([]byte(line), &r); err != nil || !r.OK {
			t.Fatalf("probe line %q: %v", line, err)
		}
		uid, _ := mapSizes(t, r.Out)
		return uid
	}
	once := func() int {
		out, err := exec.Command(confineBin, "run", file).Output()
		if err != nil {
			t.Fatalf("confine run: %v", err)
		}
		return hostUID(strings.SplitN(string(out), "\n", 2)[0])
	}

	// The first run prints its map, then sleeps until killed: it holds its range.
	first := exec.Command(confineBin, "run", file, "--", "sleep:")
	stdout, err := first.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	done := false
	stop := func() {
		if !done {
			first.Process.Signal(syscall.SIGTERM)
			first.Wait()
			done = true
		}
	}
	defer stop()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("the first run printed no map: %v", err)
	}
	a := hostUID(line)
	b := once()
	if a == b {
		t.Errorf("two runs at once both run as host uid %d", a)
	}
	stop()
	if c := once(); c != a {
		t.Errorf("a run after the first ended runs as host uid %d, the first as %d", c, a)
	}
}
