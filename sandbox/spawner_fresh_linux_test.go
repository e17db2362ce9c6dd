package sandbox

import (
	"os/exec"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/sandbox/stage"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// TestSpawnInitTakesCleanSpare: a load ahead that found no spare (none announced in
// time) loaded no firewall anywhere, so the start takes the spare rather than a fresh
// clone; one that loaded into the spare makes the next start a fresh clone.
func TestSpawnInitTakesCleanSpare(t *testing.T) {
	testenv.Require(t, testenv.Root)
	if !stage.Linked {
		testenv.Missing(t, "the C stage is not linked (CGO_ENABLED=0)")
	}
	for _, c := range []struct {
		name      string
		loadedPid bool // the dropped load found the spare
	}{{"no spare found", false}, {"loaded into the spare", true}} {
		t.Run(c.name, func(t *testing.T) {
			sp, err := StartSpawner()
			if err != nil {
				t.Fatal(err)
			}
			defer sp.Close()
			spare := 0
			for i := 0; i < 500 && spare == 0; i++ {
				if spare = sp.Spare(); spare == 0 {
					time.Sleep(10 * time.Millisecond)
				}
			}
			if spare == 0 {
				t.Fatal("the spawner announced no spare")
			}
			dropped := &firewallAhead{found: make(chan struct{}), done: make(chan struct{})}
			if c.loadedPid {
				dropped.pid = spare
			}
			close(dropped.found)
			close(dropped.done)
			sp.dropped = dropped
			maps := []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}}
			cmd := exec.Command("/bin/true")
			cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWPID |
				unix.CLONE_NEWIPC | unix.CLONE_NEWUTS | unix.CLONE_NEWNET | unix.CLONE_NEWCGROUP,
				UidMappings: maps, GidMappings: maps}
			s := &Sandbox{}
			cloned, err := s.spawnInit(sp, cmd, nil)
			if !cloned || err != nil {
				t.Fatalf("spawnInit: cloned %v, %v", cloned, err)
			}
			pid := s.proc.Pid()
			s.proc.Wait() // the stage fails at once without its descriptors
			if took := pid == spare; took == c.loadedPid {
				t.Fatalf("the init stage is %d, the spare %d: want the spare taken %v", pid, spare, !c.loadedPid)
			}
		})
	}
}
