package sandbox

import (
	"errors"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/sandbox/stage"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// The spawner clones only an init stage in its own user namespace with both id maps:
// a request without them (which the supervisor never sends) makes no child at all,
// rather than one the kernel happens to stop at its map writes.
func TestSpawnerRefusesNoUserNamespace(t *testing.T) {
	testenv.Require(t, testenv.Root)
	if !stage.Linked {
		testenv.Missing(t, "the C stage is not linked (CGO_ENABLED=0)")
	}
	sp, err := StartSpawner()
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	maps := []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}}
	stdio := []*os.File{os.Stdin, os.Stdout, os.Stderr}
	for name, r := range map[string]spawnRequest{
		"no user namespace": {flags: unix.CLONE_NEWNS | unix.CLONE_NEWPID, files: stdio, uid: maps, gid: maps},
		"no uid map":        {flags: unix.CLONE_NEWUSER | unix.CLONE_NEWNS, files: stdio, gid: maps},
		"no gid map":        {flags: unix.CLONE_NEWUSER | unix.CLONE_NEWNS, files: stdio, uid: maps},
	} {
		pid, err := sp.spawn(r)
		if pid != 0 {
			var ws unix.WaitStatus
			unix.Wait4(pid, &ws, 0, nil)
			t.Errorf("%s: the spawner cloned pid %d (%v); it must refuse the request", name, pid, err)
			continue
		}
		if !errors.Is(err, unix.EINVAL) {
			t.Errorf("%s: %v, want EINVAL", name, err)
		}
	}
}

// A request that names a spare (its firewall loaded ahead) is refused, with no child
// made, when the spawner holds another: the init stage would run in a namespace
// without that firewall. The spare it holds stays, and a request naming it takes it.
func TestSpawnerRefusesAnotherSpare(t *testing.T) {
	sp, spare, r := spawnerWithSpare(t)
	r.spare = spare + 1
	if pid, err := sp.spawn(r); pid != 0 || !errors.Is(err, errSpareTaken) {
		if pid != 0 {
			var ws unix.WaitStatus
			unix.Wait4(pid, &ws, 0, nil)
		}
		t.Fatalf("a request naming pid %d, the spare being %d: pid %d, %v; want it refused", spare+1, spare, pid, err)
	}
	if got := sp.Spare(); got != spare {
		t.Fatalf("after the refusal the spare is %d, want %d still", got, spare)
	}
	r.spare = spare
	pid, err := sp.spawn(r)
	if pid != 0 { // the stage fails at once without its descriptors: reap it
		var ws unix.WaitStatus
		unix.Wait4(pid, &ws, 0, nil)
	}
	if err != nil || pid != spare {
		t.Fatalf("a request naming the spare %d: pid %d, %v; want that spare", spare, pid, err)
	}
}

// TestSpawnerFreshLeavesSpare: a request for a fresh clone (a start whose spare holds a
// firewall loaded for another) gets a child that is not the spare, and the spare stays;
// one that asks for both a fresh clone and a spare is refused.
func TestSpawnerFreshLeavesSpare(t *testing.T) {
	sp, spare, r := spawnerWithSpare(t)
	r.fresh, r.spare = true, spare
	if pid, err := sp.spawn(r); pid != 0 || err == nil {
		t.Fatalf("a request for a fresh clone and the spare: pid %d, %v; want it refused", pid, err)
	}
	r.spare = 0
	pid, err := sp.spawn(r)
	if pid != 0 { // the stage fails at once without its descriptors: reap it
		var ws unix.WaitStatus
		unix.Wait4(pid, &ws, 0, nil)
	}
	if err != nil || pid == 0 || pid == spare {
		t.Fatalf("a request for a fresh clone: pid %d (the spare is %d), %v; want a new child", pid, spare, err)
	}
	if got := sp.Spare(); got != spare {
		t.Fatalf("after a fresh clone the spare is %d, want %d still", got, spare)
	}
}

// TestSpawnerSpareOnlyForASession: the spare leads a new session from its start, so a
// request that asks for none (the supervisor always asks) is a fresh clone, in the
// spawner's session, and the spare stays.
func TestSpawnerSpareOnlyForASession(t *testing.T) {
	sp, spare, r := spawnerWithSpare(t)
	r.setsid = false
	pid, err := sp.spawn(r)
	if pid != 0 {
		var ws unix.WaitStatus
		unix.Wait4(pid, &ws, 0, nil)
	}
	if err != nil || pid == 0 || pid == spare {
		t.Fatalf("a request without a new session: pid %d (the spare is %d), %v; want a new child", pid, spare, err)
	}
	if got := sp.Spare(); got != spare {
		t.Fatalf("after it the spare is %d, want %d still", got, spare)
	}
}

// spawnerWithSpare starts a spawner, closed at the test's end, waits for its spare, and
// returns a request for the seven namespaces that names no spare.
func spawnerWithSpare(t *testing.T) (*Spawner, int, spawnRequest) {
	t.Helper()
	testenv.Require(t, testenv.Root)
	if !stage.Linked {
		testenv.Missing(t, "the C stage is not linked (CGO_ENABLED=0)")
	}
	sp, err := StartSpawner()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sp.Close)
	spare := 0
	for i := 0; i < 500 && spare == 0; i++ {
		if spare = sp.Spare(); spare == 0 {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if spare == 0 {
		t.Fatal("the spawner announced no spare")
	}
	maps := []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}}
	return sp, spare, spawnRequest{flags: unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWIPC |
		unix.CLONE_NEWUTS | unix.CLONE_NEWNET | unix.CLONE_NEWCGROUP, files: []*os.File{os.Stdin, os.Stdout, os.Stderr},
		uid: maps, gid: maps, setsid: true}
}
