package sandbox

import (
	"errors"
	"os"
	"syscall"
	"testing"

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
