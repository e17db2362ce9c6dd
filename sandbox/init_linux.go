package sandbox

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/internal/trace"
	"github.com/confine-sandbox/confine/netfilter"
	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/sandbox/stage"
)

// step is one stage of the init, in DESIGN.md invariant 4's order. Names double as audit
// event names. run is the Go init's; render appends the same work as C stage ops
// (render_linux.go), or returns errGoInit where only the Go init does it.
type step struct {
	name   string
	run    func(*initConfig) error
	render func(*initConfig, *stage.Program) error
}

var steps = []step{
	{"nftables", loadFirewall, renderFirewall},        // in this network namespace, before anything runs
	{"loopback", loopbackUp, renderLoopback},          // behind the firewall's default drop; a spare's is up ahead (stage_spare.c)
	{"sysctls", setSysctls, renderSysctls},            // through the host's /proc, before it is replaced
	{"mounts", setupRootfs, renderMounts},             // binds, tmpfs, /proc, /dev, pivot_root, masks
	{"groups", resolveGroups, renderGroups},           // the sandbox's /etc/group, after pivot_root
	{"user", resolveUser, renderUser},                 // run.user's names: the sandbox's /etc/passwd
	{"hostname", setHostname, renderHostname},         // in the new uts namespace
	{"rlimits", setRlimits, renderRlimits},            // before dropping privileges: raising needs them
	{"no_new_privs", setNoNewPrivs, renderNoNewPrivs}, // before seccomp and Landlock, which require it
	{"capabilities", setIdentityAndCaps, renderCaps},  // bounding, then uid/gid keeping caps, then the sets
	{"landlock", restrictLandlock, renderLandlock},
	{"wait_parent", waitForGo, renderWaitGo},         // before seccomp: the read must still be allowed
	{"cgroups", movedByParent, renderCgroupSelf},     // v1, C stage: it moves itself in, before its first instruction
	{"sanitize", markFDsCloseOnExec, renderSanitize}, // nothing of confine's reaches the component
	{"workdir", enterWorkdir, renderWorkdir},
	{"rlimit_fallback", setFallbackRlimits, renderFallbackRlimits}, // lowering needs no privilege; would bound the init stage
	{"seccomp", loadSeccompBPF, renderSeccomp},                     // last: load the Plan's bytes, compile nothing here
}

// Init is the init stage. It runs in the new namespaces as the re-executed binary,
// applies the Plan's steps in order and execs the component. It never returns: on a
// failure it reports a StepError on fdError and exits 1.
func Init() {
	// capset, prctl and Landlock act per thread, and exec keeps only the calling one.
	runtime.LockOSThread()
	entered := trace.Now()
	cfg, err := readConfig()
	if err != nil {
		fail(&StepError{Step: "config", Err: err.Error()})
	}
	if cfg.SubIDs {
		// Running the setuid newuidmap may clear the child's parent-death signal
		// (rootlesskit pkg/child/child.go; on Linux 6.18 with shadow 4.13 it kept
		// it, measured): set it again. A supervisor gone before this leaves the go
		// pipe at EOF, and the init stage never execs.
		if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
			fail(&StepError{Step: "ids", Err: fmt.Sprintf("parent-death signal: %v", err)})
		}
	}
	trace.Enable(cfg.TraceOrigin)
	trace.Span("init", "runtime_start", cfg.TraceStarted, entered)
	trace.Done("init", "config", entered)
	p := cfg.Component.Process
	x, err := prepareExec(p.Args[0], p.Args, p.Env)
	if err != nil {
		fail(&StepError{Step: "exec", Err: explainExec(p.Args[0], err)})
	}
	for _, s := range steps {
		t := trace.Now()
		if err := s.run(cfg); err != nil {
			fail(&StepError{Step: s.name, Err: err.Error()})
		}
		trace.Done("init", s.name, t)
	}
	err = x.exec()
	fail(&StepError{Step: "exec", Err: explainExec(p.Args[0], err)})
}

func readConfig() (*initConfig, error) {
	f := os.NewFile(fdConfig, "config")
	defer f.Close()
	var cfg initConfig
	if err := json.NewDecoder(f).Decode(&cfg); err != nil {
		return nil, fmt.Errorf("reading the plan: %w", err)
	}
	return &cfg, nil
}

func fail(e *StepError) {
	data, _ := json.Marshal(e)
	unix.Write(fdError, data)
	os.Exit(1)
}

// loadFirewall loads the component's ruleset from inside its network namespace: the
// init stage holds CAP_NET_ADMIN there even when confine runs without root, where the
// parent could not setns(2) into it. The table goes with the namespace.
func loadFirewall(cfg *initConfig) error {
	if cfg.SkipFirewall {
		return nil
	}
	return netfilter.ApplyNew("", cfg.Component.Net.Firewall) // the clone's new namespace (SharedNet skips it)
}

// loopbackUp brings lo up: a component's own loopback is always allowed.
func loopbackUp(cfg *initConfig) error {
	if cfg.SharedNet {
		return nil
	}
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return err
	}
	return netlink.LinkSetUp(lo)
}

func setHostname(cfg *initConfig) error {
	return unix.Sethostname([]byte(cfg.Component.Process.Hostname))
}

func setNoNewPrivs(*initConfig) error {
	return unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
}

// waitForGo blocks until the parent has put the network rules and cgroup in place
// (DESIGN.md invariant 3: they precede the component's first instruction).
func waitForGo(*initConfig) error {
	var b [1]byte
	n, err := unix.Read(fdGo, b[:])
	if n != 1 {
		return fmt.Errorf("the supervisor went away before the go signal (%v)", err)
	}
	return nil
}

// markFDsCloseOnExec marks every descriptor past stdio close-on-exec, so the error pipe
// stays usable until exec and nothing leaks into the component (runc CVE-2024-21626).
func markFDsCloseOnExec(*initConfig) error {
	return unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
}

func enterWorkdir(cfg *initConfig) error {
	return unix.Chdir(cfg.Component.Process.Cwd)
}

var rlimitTypes = map[string]int{
	"RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_NOFILE": unix.RLIMIT_NOFILE,
	"RLIMIT_NPROC": unix.RLIMIT_NPROC, "RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_DATA": unix.RLIMIT_DATA,
}

func setRlimits(cfg *initConfig) error { return applyRlimits(cfg.Component.Rlimits) }

func applyRlimits(rs []plan.Rlimit) error {
	for _, r := range rs {
		t, ok := rlimitTypes[r.Type]
		if !ok {
			return fmt.Errorf("unknown rlimit %s", r.Type)
		}
		if err := unix.Setrlimit(t, &unix.Rlimit{Cur: r.Soft, Max: r.Hard}); err != nil {
			return fmt.Errorf("%s: %w", r.Type, err)
		}
	}
	return nil
}
