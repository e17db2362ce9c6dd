package sandbox

import (
	"os/exec"
	"syscall"
	"testing"
)

// TestSpawnInitTakesCleanSpare: a load ahead that found no spare (none announced in
// time) loaded no firewall anywhere, so the start takes the spare rather than a fresh
// clone; one that loaded into the spare makes the next start a fresh clone.
func TestSpawnInitTakesCleanSpare(t *testing.T) {
	for _, c := range []struct {
		name      string
		loadedPid bool // the dropped load found the spare
	}{{"no spare found", false}, {"loaded into the spare", true}} {
		t.Run(c.name, func(t *testing.T) {
			sp, spare, r := spawnerWithSpare(t)
			dropped := &firewallAhead{found: make(chan struct{}), done: make(chan struct{})}
			if c.loadedPid {
				dropped.pid = spare
			}
			close(dropped.found)
			close(dropped.done)
			sp.dropped = dropped
			cmd := exec.Command("/bin/true")
			cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: r.flags, UidMappings: r.uid, GidMappings: r.gid}
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
