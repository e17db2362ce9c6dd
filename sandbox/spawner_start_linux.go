package sandbox

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"reflect"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/internal/trace"
)

// spawnable: the spawner can make this init stage exactly as exec.Cmd would. It makes
// only the C stage's root start (ns-root, setgroups allowed, a new session, the
// supervisor's network namespace left), and its Cmd has no context to kill it by.
func (s *Sandbox) spawnable(ctx context.Context, cmd *exec.Cmd, opts Options) bool {
	sp, attr := opts.Spawner, cmd.SysProcAttr
	if sp == nil || s.stage == nil || os.Geteuid() != 0 || opts.JoinNetNS != "" || ctx.Done() != nil {
		return false
	}
	if !onlySpawnerFields(attr) || attr.Pdeathsig != unix.SIGKILL {
		return false
	}
	if !attr.Setsid || !attr.GidMappingsEnableSetgroups || attr.Credential == nil ||
		attr.Credential.Uid != 0 || attr.Credential.Gid != 0 || len(attr.Credential.Groups) > 0 {
		return false
	}
	return !sp.exited()
}

// spawnerFields are the SysProcAttr fields stage_spawn.c makes as exec.Cmd would:
// the namespaces, the maps and setgroups, the credential, the session and the death
// signal. AmbientCaps it leaves empty: the user namespace's creation clears them and the
// stage's OP_CAPS sets every set to the Plan's.
var spawnerFields = map[string]bool{"Cloneflags": true, "UidMappings": true, "GidMappings": true,
	"GidMappingsEnableSetgroups": true, "Credential": true, "Setsid": true, "Pdeathsig": true, "AmbientCaps": true}

// onlySpawnerFields: attr sets no field the spawner would not make. A field set here
// later, and not taught to the spawner, sends the start to exec.Cmd instead of being
// dropped.
func onlySpawnerFields(attr *syscall.SysProcAttr) bool {
	v := reflect.ValueOf(attr).Elem()
	for i := range v.NumField() {
		if !v.Field(i).IsZero() && !spawnerFields[v.Type().Field(i).Name] {
			return false
		}
	}
	return true
}

// spawnInit starts the init stage through the spawner. cloned is false when no child
// was made: the caller then starts cmd, which was never started, instead. A child made
// whose id maps failed has exited; it is reaped here.
func (s *Sandbox) spawnInit(sp *Spawner, cmd *exec.Cmd, cgroup *os.File) (cloned bool, err error) {
	stdio, ok, err := openStdio(cmd.Stdin, cmd.Stdout, cmd.Stderr)
	if !ok || err != nil {
		return false, err
	}
	attr := cmd.SysProcAttr
	spare := 0
	if s.ahead != nil && cgroup == nil { // a v2 cgroup's start is a fresh clone, never a spare's
		spare = s.ahead.pid
	}
	fresh := spare == 0 && (sp.ahead != nil || sp.spareLoaded()) // a load no start took: maybe in the spare
	var during func()
	if s.cgroup != nil && spare == 0 {
		during = s.cgroup.makeInline // the cgroup job, while the spawner clones
	}
	t := trace.Now()
	pid, err := sp.spawn(spawnRequest{flags: attr.Cloneflags, setsid: true, last: sp.last, cgroup: cgroup, spare: spare, fresh: fresh,
		files: append(stdio.child[:], cmd.ExtraFiles...), uid: attr.UidMappings, gid: attr.GidMappings, during: during})
	if pid == 0 {
		if errors.Is(err, errSpareTaken) {
			trace.Done("parent", "spare_refused", t) // gone, or stale (the host's mounts changed): exec.Cmd's clone
		}
		stdio.abort()
		return false, err
	}
	proc := &spawnedProc{pid: pid, stdio: stdio}
	stdio.started()
	if err != nil {
		proc.Wait()
		return true, err
	}
	s.proc, s.spawned = proc, true
	if cgroup != nil {
		s.cgroup.cloned, s.cloned = true, true
	}
	return true, nil
}

// spareLoaded: a firewall loaded ahead that no start took went into a spare's namespace,
// so a start that names no spare must be a fresh clone, whose namespace the parent loads
// its own into. A load that found no spare (none announced in time) loaded nothing: the
// spare, announced later, is clean. Its pid is final (takeFirewallAhead waited found).
func (sp *Spawner) spareLoaded() bool {
	return sp.dropped != nil && sp.dropped.pid > 0
}

// settleAhead keeps the firewall loaded ahead only when the init stage is the spare it
// was loaded for; otherwise sp's Close waits for the load, and the parent loads the
// firewall again into the init stage's namespace (Start).
func (s *Sandbox) settleAhead(sp *Spawner) {
	if s.ahead != nil && (!s.spawned || s.Pid() != s.ahead.pid) {
		sp.dropped, s.ahead = s.ahead, nil
	}
}
