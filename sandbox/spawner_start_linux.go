package sandbox

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
)

// spawnable: the spawner can make this init stage exactly as exec.Cmd would. It makes
// only the C stage's root start (ns-root, setgroups allowed, a new session, the
// supervisor's network namespace left), and its Cmd has no context to kill it by.
func (s *Sandbox) spawnable(ctx context.Context, cmd *exec.Cmd, opts Options) bool {
	sp, attr := opts.Spawner, cmd.SysProcAttr
	if sp == nil || s.stage == nil || os.Geteuid() != 0 || opts.JoinNetNS != "" || ctx.Done() != nil {
		return false
	}
	if !attr.Setsid || !attr.GidMappingsEnableSetgroups || attr.Credential == nil ||
		attr.Credential.Uid != 0 || attr.Credential.Gid != 0 || len(attr.Credential.Groups) > 0 {
		return false
	}
	select {
	case <-sp.gone:
		return false
	default:
		return true
	}
}

// spawnInit starts the init stage through the spawner. cloned is false when no child
// was made: the caller then starts cmd, which was never started, instead. A child that
// fails after its clone (its id maps) is killed and reaped.
func (s *Sandbox) spawnInit(sp *Spawner, cmd *exec.Cmd, cgroup *os.File) (cloned bool, err error) {
	stdio, ok, err := openStdio(cmd.Stdin, cmd.Stdout, cmd.Stderr)
	if !ok || err != nil {
		return false, err
	}
	mapsR, mapsW, err := os.Pipe()
	if err != nil {
		stdio.abort()
		return false, err
	}
	defer mapsW.Close() // the child's go-ahead, or its EOF
	req := spawnRequest{flags: cmd.SysProcAttr.Cloneflags, setsid: true, maps: mapsR, cgroup: cgroup,
		files: append(stdio.child[:], cmd.ExtraFiles...)}
	pid, err := sp.spawn(req)
	mapsR.Close()
	if err != nil {
		stdio.abort()
		return false, err
	}
	p, err := os.FindProcess(pid)
	if err != nil { // not on Linux: it is our child, unreaped
		stdio.abort()
		return true, err
	}
	proc := &spawnedProc{p: p, stdio: stdio}
	stdio.started()
	if err := writeIDMaps(pid, cmd.SysProcAttr); err != nil {
		proc.Signal(syscall.SIGKILL)
		proc.Wait()
		return true, err
	}
	if _, err := mapsW.Write([]byte{0}); err != nil {
		proc.Signal(syscall.SIGKILL)
		proc.Wait()
		return true, err
	}
	s.proc = proc
	if cgroup != nil {
		s.cgroup.cloned, s.cloned = true, true
	}
	s.spawned = true
	return true, nil
}

// writeIDMaps writes the child's uid and gid maps as exec.Cmd does (as root: setgroups
// stays allowed), each in one write.
func writeIDMaps(pid int, attr *syscall.SysProcAttr) error {
	for _, m := range []struct {
		file string
		ids  []syscall.SysProcIDMap
	}{{"uid_map", attr.UidMappings}, {"gid_map", attr.GidMappings}} {
		var b strings.Builder
		for _, e := range m.ids {
			fmt.Fprintf(&b, "%d %d %d\n", e.ContainerID, e.HostID, e.Size)
		}
		f, err := os.OpenFile(fmt.Sprintf("/proc/%d/%s", pid, m.file), os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		_, err = f.Write([]byte(b.String()))
		f.Close()
		if err != nil {
			return fmt.Errorf("writing %s: %w", m.file, err)
		}
	}
	return nil
}
