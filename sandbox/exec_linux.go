package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// ExecArg is the hidden first argument of confine exec's stage (sandbox/nsenter runs
// first, in C, and joins the component's namespaces; ExecInit runs after it).
const ExecArg = "__confine_exec"

// execMarker turns sandbox/nsenter's constructor on; nothing else sets it.
const execMarker = "_CONFINE_NSENTER=1"

// The exec stage's inherited descriptors; sandbox/nsenter/nsenter.c names the same.
const (
	execFDConfig = 3 // execConfig as JSON, then EOF
	execFDError  = 4 // close-on-exec: one StepError as JSON, or EOF once the command runs
	execFDPid    = 5 // a pidfd of the component's first process (nsenter.c only)
	execFDSync   = 6 // the supervisor's go, and the child's pid back (nsenter.c only)
	// 7 is closed; fdNotify (8, config.go) is audit mode's listener, as for Init.
)

// nsID names a namespace or directory by device and inode.
type nsID struct {
	Dev uint64 `json:"dev"`
	Ino uint64 `json:"ino"`
}

// execConfig is what Sandbox.Exec sends the exec stage: the component's init
// configuration (its Plan, as the init stage reads it) and what binds it to the running
// component.
type execConfig struct {
	Init initConfig `json:"init"`
	// Args is the command; Env the component's environment (TERM added for a tty).
	Args []string `json:"args"`
	Env  []string `json:"env"`
	// Groups are the component's supplementary groups as its first process holds them.
	Groups []int `json:"groups"`
	// Namespaces and Root are the component's, as the supervisor saw them: the exec stage
	// goes on only inside them.
	Namespaces map[string]nsID `json:"namespaces"`
	Root       nsID            `json:"root"`
	TTY        bool            `json:"tty"`

	path     string        // Args[0] found on the component's PATH
	prepared *preparedExec // the execve of path (lookPath)
}

// execNamespaces are the namespaces nsenter.c joins, by their /proc/PID/ns names.
var execNamespaces = []string{"user", "mnt", "pid", "net", "ipc", "uts", "cgroup"}

// execSteps are the init stage's own steps (init_linux.go), in the same order, around
// what an exec adds: proof that the C stage joined the component, the terminal, the
// groups the component holds, and the checks of what the component may have changed
// since it started (its rule paths, the working directory).
func execSteps(x *execConfig) []step {
	with := func(f func(*execConfig) error) func(*initConfig) error {
		return func(*initConfig) error { return f(x) }
	}
	return []step{
		{name: "namespaces", run: with(checkJoined)},
		{name: "terminal", run: with(takeTerminal)},
		{name: "groups", run: with(func(x *execConfig) error { x.Init.groups = x.Groups; return nil })},
		{name: "rlimits", run: setRlimits},
		{name: "no_new_privs", run: setNoNewPrivs},
		{name: "capabilities", run: setIdentityAndCaps},
		{name: "landlock_paths", run: checkRulePaths},
		{name: "landlock", run: restrictLandlock},
		{name: "sanitize", run: markFDsCloseOnExec},
		{name: "workdir", run: with(enterWorkdirInRoot)},
		{name: "lookup", run: with(lookPath)}, // and exec's arguments, before the fallback bounds this process's data
		{name: "rlimit_fallback", run: setFallbackRlimits},
		{name: "seccomp", run: loadSeccompBPF},
	}
}

// ExecInit is confine exec's stage in Go: it runs in the component's namespaces and
// cgroup, applies the component's own enforcement and execs the command. It never
// returns: on a failure it reports a StepError and exits 2.
func ExecInit() {
	runtime.LockOSThread() // capset, prctl and Landlock act per thread
	var x execConfig
	f := os.NewFile(execFDConfig, "config")
	err := json.NewDecoder(f).Decode(&x)
	f.Close()
	if err != nil {
		execFail(&StepError{Step: "config", Err: err.Error()})
	}
	for _, s := range execSteps(&x) {
		if err := s.run(&x.Init); err != nil {
			execFail(&StepError{Step: s.name, Err: err.Error()})
		}
	}
	err = x.prepared.exec()
	execFail(&StepError{Step: "exec", Err: explainExec(x.path, err)})
}

func execFail(e *StepError) {
	data, _ := json.Marshal(e)
	unix.Write(execFDError, data)
	os.Exit(2)
}

// checkJoined refuses to go on outside the component: a binary built without cgo has no
// C stage, and its exec stage would otherwise confine a command on the host.
func checkJoined(x *execConfig) error {
	for _, ns := range execNamespaces {
		id, err := statID("/proc/self/ns/" + ns)
		if err != nil {
			return err
		}
		if id != x.Namespaces[ns] {
			return fmt.Errorf("not in the component's %s namespace (was confine built without cgo?)", ns)
		}
	}
	return nil
}

func statID(path string) (nsID, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return nsID{}, err
	}
	return nsID{Dev: st.Dev, Ino: st.Ino}, nil
}

// takeTerminal makes the pty on stdin the controlling terminal of a new session.
func takeTerminal(x *execConfig) error {
	if !x.TTY {
		return nil
	}
	if _, err := unix.Setsid(); err != nil {
		return fmt.Errorf("setsid: %w", err)
	}
	return unix.IoctlSetInt(0, unix.TIOCSCTTY, 0)
}

// checkRulePaths refuses an exec when the component could have swapped a Landlock rule
// path for a symlink since it started: go-landlock opens rule paths following symlinks,
// so the new domain would grant the target's rights. A path resolves elsewhere only
// through a symlink; one that is beneath a rule granting make_sym may be the component's.
func checkRulePaths(cfg *initConfig) error {
	ll := cfg.Component.Landlock
	for _, p := range ll.Paths {
		real, err := filepath.EvalSymlinks(p.Path)
		if err != nil || real == p.Path {
			continue // a missing path fails in restrictLandlock as at start
		}
		for _, r := range ll.Paths {
			if slices.Contains(r.Access, "make_sym") && strings.HasPrefix(p.Path, strings.TrimSuffix(r.Path, "/")+"/") {
				return fmt.Errorf("%s now resolves to %s, beneath %s where the component may make symlinks", p.Path, real, r.Path)
			}
		}
	}
	return nil
}

// enterWorkdirInRoot enters the component's working directory and checks that both the
// root and the working directory are the component's (CVE-2024-21626: a working
// directory outside the root lets a command walk out of it).
func enterWorkdirInRoot(x *execConfig) error {
	if root, err := statID("/"); err != nil || root != x.Root {
		return fmt.Errorf("the root is not the component's (%v)", err)
	}
	if err := enterWorkdir(&x.Init); err != nil {
		return err
	}
	buf := make([]byte, unix.PathMax)
	n, err := unix.Getcwd(buf)
	if err != nil || n == 0 || buf[0] != '/' {
		return fmt.Errorf("the working directory is outside the component's root (%v)", err)
	}
	return nil
}

// lookPath finds the command on the component's PATH, as the component sees it, once
// Landlock is in place (execute rights decide what is found), and prepares its execve.
func lookPath(x *execConfig) error {
	if err := findPath(x); err != nil {
		return err
	}
	var err error
	x.prepared, err = prepareExec(x.path, x.Args, x.Env)
	return err
}

func findPath(x *execConfig) error {
	name := x.Args[0]
	if strings.Contains(name, "/") {
		x.path = name
		return nil
	}
	path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, kv := range x.Env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && unix.Access(p, unix.X_OK) == nil {
			x.path = p
			return nil
		}
	}
	return errors.New(name + ": not found on the component's PATH")
}
