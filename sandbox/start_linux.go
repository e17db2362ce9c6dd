package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/internal/trace"
	"github.com/confine-sandbox/confine/netfilter"
	"github.com/confine-sandbox/confine/policy/observe"
	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/sandbox/stage"
)

// Options are the runtime choices of one run.
type Options struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// TTY keeps the caller's controlling terminal; without it the component starts in
	// a new session and cannot push input into the terminal (TIOCSTI).
	TTY bool
	// skipFirewall: nftables is missing and the policy allows running without it.
	skipFirewall bool
	// Hosts, when set, becomes the component's /etc/hosts (read-only): a stack's
	// component sees the names of the peers it may reach.
	Hosts string
	// Resolv, when set, becomes the component's /etc/resolv.conf (read-only): a stack's
	// component with declared names asks the stack's resolver.
	Resolv string
	// Attach runs after Start and before the component's first instruction: a stack
	// wires the component's network namespace to its bridge here.
	Attach func(s *Sandbox) error
	// CgroupName names the cgroup (NAME-SUPERVISOR-N under CgroupParent); default the
	// component's name. A stack prefixes its own, so cleaning up after it finds only its
	// cgroups.
	CgroupName string
	// Freezer puts the component in a cgroup even without limits, with the freezer, so
	// that it can be paused.
	Freezer bool
	// Cgroup2Root is for tests only: a cgroup v2 hierarchy (a parent the test made)
	// that the v2 path makes the cgroup in, on a host whose manager is v1.
	Cgroup2Root string
	// withCgroup: make the Plan's cgroup and move the init stage in before Go (Launch).
	withCgroup bool
	// Keep, when set, holds the component's cgroup across its runs: Start reuses the
	// one it holds, if it fits and is empty, instead of making one, and the run's
	// release leaves its cgroup there instead of removing it (cgroup_keep_linux.go).
	Keep *KeptCgroup
	// Image is where the store keeps the Plan's image and the run's upper, for a
	// component with run.image; Volumes maps each volume the Plan mounts to its
	// directory (image.Store.RunImage, UseVolume).
	Image   *ImageRoot
	Volumes map[string]string
	// Storage, when set, gives Image and Volumes instead: the caller readies them beside
	// the start, which waits for them only where the image's mounts are made.
	Storage func() (*ImageRoot, map[string]string, error)
	// rlimitFallback: cgroups are skipped (best_effort); rlimits stand in for the
	// limits they can (rlimit_fallback.go).
	rlimitFallback bool
	// Stack names the stack the component belongs to, "" for a lone run: as root, the
	// component's host id range is recorded under stack and component (ids_linux.go).
	Stack string
	// JoinNetNS, when set, is the network namespace (a path) the sandbox joins instead of
	// making its own, firewall and all: a health check run beside the component
	// (netns_join_linux.go). Its firewall, loopback and net sysctls are the component's.
	JoinNetNS string
	// Spawner, when set, makes the init stage when it can (a stack's supervisor: root,
	// the C stage, no TTY); any other start, or a spawner that fails or is gone, is
	// exec.Cmd's (spawner_linux.go).
	Spawner *Spawner
	// Observe receives each call an audit-mode component made that the filter handed to
	// the supervisor (observe_linux.go), after it was let through; nil drops them.
	Observe func(observe.Call)
	// Late, when set, runs once the init stage is started (the C stage with its
	// program), before the go signal (Launch only; late_linux.go); late is Launch's run
	// of it.
	Late Late
	late *lateRun
}

// Sandbox is one started component: its init stage is waiting for Go.
type Sandbox struct {
	proc    initProc // nil until the init stage has started
	root    string
	errPipe *os.File
	goPipe  *os.File
	idsPipe *os.File // fdIDs' read end, until Go reads it
	// uid and gid are the component's ids inside: the Plan's, or run.user's names as
	// the init stage resolved them (Go).
	uid, gid uint32
	cgroup   *cgroupJob
	cg       *Cgroup     // the cgroup once Go has it in place; never cleared
	keep     *KeptCgroup // Options.Keep: release leaves the cgroup there
	// firewall reports the parent's load of the firewall, when it makes it (as root).
	firewall chan error
	waited   bool
	// oomKilled is set by Wait when the kernel's OOM killer ended a process of the cgroup.
	oomKilled bool
	// ids is the component's host id range, as root; findings what Start let go
	// (best_effort).
	ids      idRange
	findings []Finding
	// stage is the C stage's program when it runs instead of the Go init: its errors
	// are worded from it.
	stage *stage.Program
	// cloned: the init stage started inside its v2 cgroup; cgroupRefused is why the
	// kernel would not (cgroupfd_linux.go).
	cloned        bool
	cgroupRefused error
	// ahead is the firewall the spawner's spare got before this start took it
	// (firewall_ahead_linux.go): Go waits for it as for the parent's own load.
	ahead *firewallAhead
	// lastSpawner is the spawner that served its last request for this start: closed
	// (reaped) after the go signal, or by release.
	lastSpawner *Spawner
	// spawned: the spawner made the init stage; spawnErr is why it did not, when asked.
	spawned  bool
	spawnErr error
	// keepRoot: release leaves the root directory in keep for the next run.
	keepRoot bool
	// observed is closed once audit mode's notifications are served to their end.
	observed chan struct{}
}

// Start re-executes confine as the init stage in new namespaces, hands it the
// component's Plan and leaves it waiting before seccomp and exec, so that the caller can
// put the network and cgroup in place (Pid, NetNS) and then call Go. The calling
// goroutine must stay on a locked OS thread until Wait: the parent-death signal follows
// the thread that started the child.
func Start(ctx context.Context, c *plan.Component, opts Options) (_ *Sandbox, err error) {
	s := &Sandbox{keep: opts.Keep}
	// Read before anything is made: a bad env_file stops the start with nothing to undo.
	env, err := composeEnv(c.Process)
	if err != nil {
		if lerr := opts.late.run(); lerr != nil {
			return nil, lerr // the caller's preflight came first
		}
		return nil, &StepError{Step: "env", Err: err.Error()}
	}
	// The program store's check and the caller's Late wait until the init stage has its
	// program (late_linux.go); a start that fails before has their errors first.
	lateDone := false
	late := func() error {
		if lateDone {
			return nil
		}
		lateDone = true
		return s.checkedLate(c, opts)
	}
	defer func() {
		if err != nil {
			if lerr := late(); lerr != nil {
				err = lerr
			}
		}
	}()
	s.uid, s.gid = c.Process.UID, c.Process.GID
	if named := userSpec(c.Process); os.Geteuid() != 0 && (c.Process.User != "" || c.Process.Group != "") {
		// The id map is written before the init stage can read the sandbox's files.
		return nil, &StepError{Step: "ids", Err: fmt.Sprintf("run.user %s: names resolve inside the sandbox, after its id map is written, and without root only the ids in that map exist; give the numbers", named)}
	}
	if opts.withCgroup {
		name := opts.CgroupName
		if name == "" {
			name = c.Name
		}
		if mount := cgroup2Root(opts); mount != "" {
			// v2: made (or the kept one checked) before the clone, which starts the init
			// stage inside it.
			if kept := opts.Keep.take(c.Cgroup, opts.Freezer, mount); kept != nil {
				s.cgroup = reuseCgroupJob(kept) // a restart: the last run's, empty
			} else if s.cgroup, err = madeCgroupJob(mount, name, c.Cgroup, opts.Freezer); err != nil {
				return nil, &StepError{Step: "cgroups", Err: err.Error()}
			}
		} else {
			// v1: the job takes the kept one, or makes one, beside the clone.
			s.cgroup = keptCgroupJob(opts.Keep, name, c.Cgroup, opts.Freezer)
		}
		if opts.Spawner == nil {
			s.cgroup.startAsync() // exec.Cmd's start: beside everything from here on
		} // else inline while the spawner clones, or async before exec.Cmd's (startInit)
	}
	rootless := os.Geteuid() != 0
	t := trace.Now()
	if !rootless {
		// A first start records the component's range (and may add confine's entries to
		// /etc/subuid and /etc/subgid): lasting, so the caller's checks come first.
		if opts.late != nil && hostIDs.allocates(opts.Stack, c.Name) {
			if err = late(); err != nil {
				s.release()
				return nil, err
			}
		}
		if s.ids, err = hostIDs.rangeFor(opts.Stack, c.Name); err != nil {
			s.release()
			return nil, &StepError{Step: "ids", Err: err.Error()}
		}
	}
	var sub *subIDMaps // without root, the maps newuidmap writes (rootless_linux.go)
	if rootless {
		var notice *Finding
		if sub, notice = rootlessIDs(c); notice != nil {
			s.findings = append(s.findings, *notice)
		}
	}
	trace.Done("parent", "ids", t)
	s.keepRoot = !rootless && opts.Keep != nil
	if s.keepRoot {
		s.root = opts.Keep.takeRoot(s.ids.UID, s.ids.GID) // a restart: the last run's
	}
	if s.root == "" {
		s.root, err = os.MkdirTemp(RootsDir(), fmt.Sprintf("confine-root-%d-", os.Getpid()))
		if err == nil && !rootless {
			// The init stage is the range's first id on the host, not root.
			err = os.Chown(s.root, int(s.ids.UID), int(s.ids.GID))
		}
	}
	if err != nil {
		s.release()
		return nil, err
	}
	root := s.root
	defer func() {
		if err != nil {
			s.Kill()
		}
	}()
	// Pipes the runtime's poller does not know (pipeBlocking): this goroutine's reads
	// and writes of them block its locked thread, not park it.
	cfgR, cfgW, err := pipeBlocking()
	if err != nil {
		return s, err
	}
	defer cfgR.Close()
	defer cfgW.Close() // sent and closed below, unless Start fails before
	errR, errW, err := pipeBlocking()
	if err != nil {
		return s, err
	}
	defer errW.Close()
	s.errPipe = errR
	goR, goW, err := seqpacketPair() // the go signal, and the C stage's v1 tasks descriptors
	if err != nil {
		return s, err
	}
	defer goR.Close()
	s.goPipe = goW
	idsR, idsW, err := pipeBlocking()
	if err != nil {
		return s, err
	}
	defer idsW.Close()
	s.idsPipe = idsR
	mountsR, mountsW, err := seqpacketPair()
	if err != nil {
		return s, err
	}
	defer mountsR.Close()
	defer mountsW.Close() // sendMounts closes it first, unless Start fails before

	// /proc/self/exe, not the binary's path: the init stage starts as the component's
	// user, who may not be able to reach the directory confine was run from.
	cmd := exec.CommandContext(ctx, "/proc/self/exe", InitArg)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = opts.Stdin, opts.Stdout, opts.Stderr
	cmd.Env = []string{} // the init stage reads the Plan, not the environment
	cmd.ExtraFiles = []*os.File{cfgR, errW, goR, mountsR, idsW}
	var notifyW *os.File
	serving := false
	if c.Audit != nil {
		notifyR, w, err := seqpacketPair()
		if err != nil {
			return s, err
		}
		defer notifyR.Close()
		notifyW = w
		defer func() {
			if !serving {
				notifyW.Close() // serveNotifications closes it once it runs
			}
		}()
		cmd.ExtraFiles = append(cmd.ExtraFiles, notifyR) // fdNotify
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWIPC |
			unix.CLONE_NEWUTS | unix.CLONE_NEWNET | unix.CLONE_NEWCGROUP,
		UidMappings: idMap(c.Process.UID, os.Geteuid(), s.ids.UID, rootless),
		GidMappings: idMap(c.Process.GID, os.Getegid(), s.ids.GID, rootless),
		// An unprivileged user may map its group only after giving up setgroups(2).
		GidMappingsEnableSetgroups: !rootless,
		// Without root the init stage starts as the component's user, who keeps no
		// capability across execve: every capability of the new user namespace rides
		// over as an ambient one, and the init stage narrows them to the Plan's.
		AmbientCaps: nsCapabilities(),
		Credential:  initCredential(c.Process, rootless),
		Pdeathsig:   unix.SIGKILL,
		Setsid:      !opts.TTY,
	}
	sub.clearMaps(cmd.SysProcAttr)
	if opts.JoinNetNS != "" {
		cmd.SysProcAttr.Cloneflags &^= unix.CLONE_NEWNET
		opts.skipFirewall = true
	}
	// As root the supervisor loads the firewall into the new network namespace itself,
	// beside the init stage's start; without root only the init stage holds
	// CAP_NET_ADMIN there, and loads it first thing.
	byParent := !rootless && !opts.skipFirewall
	cfg := initConfig{Component: forInit(c, env), Root: root, Rootless: rootless,
		SkipFirewall: opts.skipFirewall || byParent, Hosts: opts.Hosts, Resolv: opts.Resolv,
		SharedNet: opts.JoinNetNS != "", TraceOrigin: trace.Origin(), SubIDs: sub != nil}
	if opts.rlimitFallback {
		cfg.FallbackRlimits = rlimitFallback(c.Cgroup)
	}
	if s.cgroup != nil && s.cgroup.made == nil {
		cfg.selfCgroup = &selfAttach{} // v1: the C stage moves itself in
	}
	t = trace.Now()
	if s.stage = renderStage(&cfg); s.stage != nil {
		cmd.Env = []string{stage.Marker} // the constructor runs the C stage, not main
		if s.cgroup != nil {
			s.cgroup.self = cfg.selfCgroup
		}
		trace.Done("parent", "render_c_stage", t)
	}
	if byParent && s.stage != nil {
		s.ahead = opts.Spawner.takeFirewallAhead(c.Net.Firewall)
	}
	started := trace.Now()
	early, err := s.sendEarly(cfgW, started)
	if err != nil {
		return s, fmt.Errorf("sending the plan: %w", err)
	}
	if err = s.startInit(ctx, cmd, opts); err != nil {
		return s, fmt.Errorf("starting the init stage: %w", err)
	}
	step := "clone"
	if s.spawned {
		step = "spawn" // the spawner's clone (spawner_linux.go)
	}
	trace.Done("parent", step, started)
	if notifyW != nil {
		// Served before Go: the init stage's execve is already observed.
		s.observed = make(chan struct{})
		go func() { defer close(s.observed); serveNotifications(notifyW, opts.Observe) }()
		serving = true
	}
	if err := sub.write(s.Pid()); err != nil {
		return s, &StepError{Step: "ids", Err: err.Error()}
	}
	if s.cgroup != nil {
		s.cgroup.gotPid(s.Pid())
	}
	if byParent && s.ahead == nil {
		s.firewall = make(chan error, 1)
		go func(fw plan.Firewall) {
			t := trace.Now()
			s.firewall <- netfilter.ApplyNew(s.NetNS(), fw) // the clone's new namespace: no table yet
			trace.Done("parent", "nftables", t)
		}(c.Net.Firewall)
	}
	// The idmapped mounts need the child's user namespace, which exists now; the init
	// stage reads them once it has read the config below.
	t = trace.Now()
	var mounts []mountFD
	if !rootless {
		if mounts, s.findings, err = idmapMounts(s.Pid(), c); err != nil {
			return s, &StepError{Step: "idmap", Err: err.Error()}
		}
	}
	if c.Image != nil || hasVolumes(c) {
		if rootless {
			return s, &StepError{Step: "image", Err: "run.image and volumes need root: the layers are the store's, owned by host root"}
		}
		if opts.Storage != nil {
			tw := trace.Now()
			if opts.Image, opts.Volumes, err = opts.Storage(); err != nil {
				return s, err
			}
			trace.Done("parent", "storage_wait", tw)
		}
		if opts.Image != nil && opts.Image.Upper == "" && RootWrites(c, opts.Hosts != "") {
			return s, &StepError{Step: "image", Err: "the image's root has no upper, and the run makes mount points or files in it"}
		}
		if opts.Image != nil && opts.Image.Upper != "" {
			// The overlay's root directory is the upper's: the component's root owns it.
			if err := os.Chown(opts.Image.Upper, int(s.ids.UID), int(s.ids.GID)); err != nil {
				return s, &StepError{Step: "image", Err: err.Error()}
			}
		}
		to := trace.Now()
		im, err := imageMounts(s.Pid(), c, opts.Image, opts.Volumes)
		trace.Done("parent", "image_mounts", to)
		if err != nil {
			closeMounts(mounts)
			return s, &StepError{Step: "image", Err: err.Error()}
		}
		mounts = append(mounts, im...)
	}
	if err := sendMounts(mountsW, mounts); err != nil {
		return s, &StepError{Step: "idmap", Err: err.Error()}
	}
	trace.Done("parent", "idmap", t)
	if err := late(); err != nil {
		return s, err
	}
	if s.cgroup != nil {
		s.cgroup.makeInline() // not made while a spare was taken (spawnInit)
	}
	if early {
		return s, nil
	}
	t = trace.Now()
	cfg.TraceStarted = started
	if err := s.sendConfig(cfgW, &cfg); err != nil {
		cfgW.Close()
		return s, fmt.Errorf("sending the plan: %w", err)
	}
	cfgW.Close()
	trace.Done("parent", "send_config", t)
	return s, nil
}

// forInit is the part of c the init stage reads: the seccomp rules, which only explain
// and audit read, and the Plan's notes stay behind (a smaller message to decode).
func forInit(c *plan.Component, env []string) plan.Component {
	ic := *c
	ic.Process.Env = env
	ic.Seccomp.Rules = nil
	ic.Landlock.Notes = nil
	ic.Requires = nil
	ic.Net.Unresolved = nil
	return ic
}

// idMap maps, as root, container ids 0-65535 onto the component's own host range from
// base: its root is an unprivileged host id no other component shares, and a daemon that
// drops from root to its service user can chown to it. Without root, the invoking user's
// id is the only one it may map, and it becomes the component's.
func idMap(id uint32, invoker int, base uint32, rootless bool) []syscall.SysProcIDMap {
	if rootless {
		return []syscall.SysProcIDMap{{ContainerID: int(id), HostID: invoker, Size: 1}}
	}
	return []syscall.SysProcIDMap{{ContainerID: 0, HostID: int(base), Size: RangeSize}}
}

// HostIDs is the component's first host uid and gid as root (each the start of a
// RangeSize range), or 0, 0 without root.
func (s *Sandbox) HostIDs() (uid, gid uint32) { return s.ids.UID, s.ids.GID }

// Findings are what Start let go because the policy lists it under best_effort.
func (s *Sandbox) Findings() []Finding { return s.findings }

// initCredential is who the init stage starts as: ns-root (the range's first host id) as
// root, and otherwise the component's own (only mapped) user, since unmapped ids can
// create nothing.
func initCredential(p plan.Process, rootless bool) *syscall.Credential {
	if rootless {
		return &syscall.Credential{Uid: p.UID, Gid: p.GID, NoSetGroups: true}
	}
	return &syscall.Credential{Uid: 0, Gid: 0}
}

// nsCapabilities lists every capability this kernel knows (0 to cap_last_cap), read once
// per process: each start needs it, and the kernel's list does not change.
var nsCapabilities = sync.OnceValue(func() []uintptr {
	last := capLastCap()
	caps := make([]uintptr, last+1)
	for i := range caps {
		caps[i] = uintptr(i)
	}
	return caps
})

// Pid is the init stage's process id in the caller's pid namespace.
func (s *Sandbox) Pid() int { return s.proc.Pid() }

// Spawned reports whether the spawner made the init stage, and why not when
// Options.Spawner was set and it did not (nil: the start was not one it makes).
func (s *Sandbox) Spawned() (bool, error) { return s.spawned, s.spawnErr }

// NetNS is the path of the sandbox's network namespace.
func (s *Sandbox) NetNS() string { return fmt.Sprintf("/proc/%d/ns/net", s.Pid()) }

// Cgroup is the sandbox's cgroup once Go has returned, or nil when it has none.
func (s *Sandbox) Cgroup() *Cgroup { return s.cg }

// initFailure returns the error the init stage reported, if it has already failed,
// without letting it go on.
func (s *Sandbox) initFailure() error {
	fds := []unix.PollFd{{Fd: int32(s.errPipe.Fd()), Events: unix.POLLIN}}
	if n, _ := unix.Poll(fds, 100); n <= 0 {
		return nil
	}
	data, _ := io.ReadAll(s.errPipe)
	if se := s.decodeFailure(data); se != nil {
		return se
	}
	return nil
}

// sendConfig sends the init stage its work: the C stage's program, or the Go init's JSON.
// sendEarly writes the C stage's program, and closes w, before the clone when the pipe
// can be made to hold it whole: the stage then reads it at once, instead of waiting for
// the parent to wake from the clone and send it. false: sendConfig sends it later.
func (s *Sandbox) sendEarly(w *os.File, started int64) (bool, error) {
	if s.stage == nil {
		return false, nil
	}
	t := trace.Now()
	s.stage.TraceStarted = started
	b := s.stage.Bytes()
	// The pipe is empty: a write no longer than its capacity cannot block. Grow it only
	// when the default (64 KiB, or one page past pipe-user-pages-soft) is too small.
	if n, err := unix.FcntlInt(w.Fd(), unix.F_GETPIPE_SZ, 0); err != nil || n < len(b) {
		if n, err := unix.FcntlInt(w.Fd(), unix.F_SETPIPE_SZ, len(b)); err != nil || n < len(b) {
			return false, nil
		}
	}
	if _, err := w.Write(b); err != nil {
		w.Close()
		return false, err
	}
	trace.Done("parent", "send_config", t)
	return true, w.Close()
}

func (s *Sandbox) sendConfig(w io.Writer, cfg *initConfig) error {
	if s.stage != nil {
		s.stage.TraceStarted = cfg.TraceStarted
		_, err := w.Write(s.stage.Bytes())
		return err
	}
	return json.NewEncoder(w).Encode(cfg)
}

// decodeFailure reads the init stage's report of a failed step: the C stage's record,
// worded from its program, or the Go init's JSON StepError; nil for neither.
func (s *Sandbox) decodeFailure(data []byte) *StepError {
	if e, ok := stage.DecodeError(data); ok && s.stage != nil {
		step, msg := s.stage.Explain(e)
		return &StepError{Step: step, Err: msg}
	}
	var se StepError
	if len(data) == 0 || json.Unmarshal(data, &se) != nil {
		return nil
	}
	return &se
}

// firstFailure is the init stage's own error when it failed first, else err: a step of
// the parent that races the init stage (the firewall opens /proc/PID/ns/net) fails once
// an init stage that already failed has exited, and the cause is the init stage's.
func (s *Sandbox) firstFailure(err *StepError) error {
	if ierr := s.initFailure(); ierr != nil {
		return ierr
	}
	return err
}

// Go lets the init stage finish: Landlock is in place, seccomp and exec follow. It
// returns the init stage's StepError if a step failed, or nil once the component runs.
func (s *Sandbox) Go() error {
	t := trace.Now()
	if s.cgroup != nil {
		if err := s.cgroup.wait(); err != nil {
			return s.firstFailure(&StepError{Step: "cgroups", Err: err.Error()})
		}
		trace.Done("parent", "cgroup_wait", t)
		s.cg = s.cgroup.cg // kept after release, which clears s.cgroup: Cgroup reads it
	}
	if s.firewall != nil {
		err := <-s.firewall
		s.firewall = nil
		if err != nil {
			return s.firstFailure(&StepError{Step: "nftables", Err: err.Error()})
		}
	}
	if s.ahead != nil { // loaded into the spare's namespace, which is the init stage's
		if err := s.ahead.wait(); err != nil {
			return s.firstFailure(&StepError{Step: "nftables", Err: err.Error()})
		}
	}
	t = trace.Now()
	werr := s.sendGo()
	s.goPipe.Close()
	if s.lastSpawner != nil {
		// Its EOF: the lone run's spawner exits now, beside the stage's last steps on the
		// core the parent leaves free while it waits for the exec (stage_spawn.c).
		s.lastSpawner.endLast()
	}
	if s.cgroup != nil {
		s.cgroup.letSweep() // inline: the sweep runs here, while the stage execs
	}
	// The killed supervisors' root directories go while the stage execs, too: no name
	// the sweep could remove is ours.
	t1 := trace.Now()
	sweepRoots()
	trace.Done("parent", "sweep_roots", t1)
	data, err := io.ReadAll(s.errPipe) // EOF without data: exec closed the pipe
	s.errPipe.Close()
	trace.Done("parent", "go_until_exec", t)
	// Gone by now, as a rule: Close reaps it without a wait.
	if s.lastSpawner != nil {
		t2 := trace.Now()
		s.closeSpawner()
		trace.Done("parent", "spawner_exit", t2)
	}
	switch {
	case len(data) > 0:
		if se := s.decodeFailure(data); se != nil {
			return se
		}
		return fmt.Errorf("init stage: %q", data)
	case err != nil:
		return err
	case werr != nil:
		return fmt.Errorf("init stage ended before the go signal: %w", werr)
	}
	return s.readIDs()
}

// sendGo sends the go signal: one byte, with the v1 tasks descriptors the C stage
// moves itself in by, if the cgroup job opened them.
func (s *Sandbox) sendGo() error {
	var rights []byte
	if s.cgroup != nil {
		tasks := s.cgroup.takeTasks()
		defer closeFDs(tasks)
		if len(tasks) > 0 {
			rights = unix.UnixRights(tasks...)
		}
	}
	return unix.Sendmsg(int(s.goPipe.Fd()), []byte{1}, rights, nil, unix.MSG_NOSIGNAL)
}

// Wait waits for the component and returns its exit status, 128+signal when killed.
func (s *Sandbox) Wait() (int, error) {
	s.waited = true
	t := trace.Now()
	ws, err := s.proc.Wait()
	if s.observed != nil {
		// Each call is handed to Observe after its answer, so the component may have
		// exited meanwhile; the reap ends the filter, and so the serving, at once.
		<-s.observed
	}
	trace.Done("parent", "wait", t)
	s.oomKilled = s.cg.ranOOMKills() // read before release removes the cgroup
	t = trace.Now()
	s.release()
	trace.Done("parent", "release", t)
	if err != nil {
		return 0, err
	}
	if ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return ws.ExitStatus(), nil
}

// OOMKilled reports, after Wait, whether the memory limit's OOM killer ended a process.
func (s *Sandbox) OOMKilled() bool { return s.oomKilled }

// Signal sends sig to the init stage, which is the component once exec has happened.
func (s *Sandbox) Signal(sig os.Signal) error { return s.proc.Signal(sig) }

// Kill ends the sandbox and removes what Start made. Killing pid 1 of the sandbox's pid
// namespace ends every process in it; the namespaces and mounts go with the last one.
func (s *Sandbox) Kill() {
	if s.proc != nil && !s.waited {
		s.proc.Signal(os.Kill)
		// A firewall load names the init stage by its pid (its /proc entry): over before
		// the reap frees that pid, and none outlives the start.
		if s.firewall != nil {
			<-s.firewall
			s.firewall = nil
		}
		if s.ahead != nil {
			s.ahead.wait()
		}
		s.proc.Wait()
		s.waited = true
	}
	for _, f := range []*os.File{s.errPipe, s.goPipe, s.idsPipe} {
		if f != nil {
			f.Close()
		}
	}
	s.release()
}

// release removes what outlives the sandbox's processes: the cgroup and the empty
// directory the root was built on, or leaves both in keep.
func (s *Sandbox) release() {
	s.closeSpawner()
	if s.ahead != nil {
		s.ahead.wait() // its descriptor of the namespace is closed
	}
	if s.cgroup != nil {
		s.cgroup.end(s.keep)
		s.cgroup = nil
	}
	if s.root != "" && s.keepRoot {
		s.keep.putRoot(s.root) // the next run's, or Delete's
	} else if s.root != "" {
		unix.Rmdir(s.root) // an empty directory: os.Remove would try unlink(2) first
	}
	s.root = ""
}

// closeSpawner reaps the spawner that served its last request, if any.
func (s *Sandbox) closeSpawner() {
	if s.lastSpawner != nil {
		s.lastSpawner.Close()
		s.lastSpawner = nil
	}
}

// RootsDir is where a run makes its empty root directory, the init stage's mount point:
// /dev/shm where it is root's sticky tmpfs, as on every systemd host, else the temporary
// directory. A directory there costs microseconds to make and remove and the sweep reads
// a few entries; on an ext4 /tmp mounted with discard each rmdir took 0.1-0.5 ms and the
// sweep read its 400 entries, every run (docs/BENCHMARKS.md).
var RootsDir = sync.OnceValue(func() string {
	var fs unix.Statfs_t
	var st unix.Stat_t
	if unix.Statfs(shmDir, &fs) == nil && fs.Type == unix.TMPFS_MAGIC &&
		unix.Lstat(shmDir, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR && st.Uid == 0 &&
		st.Mode&unix.S_ISVTX != 0 {
		return shmDir
	}
	return os.TempDir()
})

const shmDir = "/dev/shm"

// sweepRoots removes the empty root directories that supervisors killed with SIGKILL
// left behind (DESIGN.md invariant 7). The name holds the supervisor's pid: a directory
// whose supervisor still runs is left alone. Once per process, as sweepCgroups.
func sweepRoots() { rootsSwept.Do(func() { sweepRootsIn(RootsDir()) }) }

var rootsSwept sync.Once

// SweepRoots is sweepRoots for a stack's clean-up (confine down after a killed supervisor).
// It sweeps the temporary directory too, where the roots were made before RootsDir
// (and still are without root's sticky /dev/shm): each start's sweep reads only
// RootsDir, as the reason for it was the cost of reading /tmp.
func SweepRoots() {
	for _, dir := range rootsSweptDirs() {
		sweepRootsIn(dir)
	}
}

// rootsSweptDirs are where SweepRoots looks: RootsDir, and the temporary directory where
// supervisors before RootsDir made theirs.
func rootsSweptDirs() []string {
	if tmp := os.TempDir(); filepath.Clean(tmp) != filepath.Clean(RootsDir()) {
		return []string{RootsDir(), tmp}
	}
	return []string{RootsDir()}
}

// sweepRootsIn removes the root directories in dir whose supervisor is gone.
func sweepRootsIn(dir string) {
	dirs, _ := filepath.Glob(filepath.Join(dir, "confine-root-*-*"))
	self := os.Getpid()
	for _, d := range dirs {
		var pid int
		if _, err := fmt.Sscanf(filepath.Base(d), "confine-root-%d-", &pid); err != nil || pid <= 0 {
			continue
		}
		// This supervisor's own (the run's root) needs no look at /proc: it runs.
		if pid != self && Gone(pid) {
			os.Remove(d) // only if empty
		}
	}
}
