package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/landlock-lsm/go-landlock/landlock"
	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/sandbox/stage"
)

// errGoInit: the step needs something the C stage does not do; the Go init runs instead.
var errGoInit = errors.New("not in the C stage")

// goInitForced is CONFINE_STAGE=go: the Go init runs even where the C stage (sandbox/stage)
// could, which by default runs whenever the Plan's features are all its own.
func goInitForced() bool { return os.Getenv("CONFINE_STAGE") == "go" }

// renderStage renders the steps table into the C stage's program, or returns nil when
// the Go init must run: CONFINE_STAGE=go, a build without cgo, or a step needs the Go
// init (without root: the firewall from inside and newuidmap; an image's upper for a named user;
// Landlock under best_effort). Each step renders its
// ops in the table's order, so the table stays the one description of the order.
func renderStage(cfg *initConfig) *stage.Program {
	if !stage.Linked || goInitForced() || cfg.Rootless || cfg.SubIDs || cfg.Component.Audit != nil {
		return nil // audit mode: the observing filter's listener goes to the parent from Go
	}
	p := &stage.Program{TraceOrigin: cfg.TraceOrigin}
	for _, s := range steps {
		p.Step(s.name)
		if err := s.render(cfg, p); err != nil {
			return nil
		}
	}

	renderExec(cfg, p)
	if p.Check() != nil {
		return nil
	}
	return p
}

// renderFirewall: only the parent loads the firewall when the C stage runs (as root).
func renderFirewall(cfg *initConfig, _ *stage.Program) error {
	if !cfg.SkipFirewall {
		return errGoInit
	}
	return nil
}

func renderLoopback(cfg *initConfig, p *stage.Program) error {
	if !cfg.SharedNet {
		p.Add(stage.OpLoopback, nil, nil, nil)
	}
	return nil
}

func renderSysctls(cfg *initConfig, p *stage.Program) error {
	if cfg.SharedNet {
		return nil
	}
	for _, s := range cfg.Component.Sysctls {
		if !strings.HasPrefix(s.Key, "net.") || strings.Contains(s.Key, "/") || strings.Contains(s.Key, "..") {
			return errGoInit // the Go init refuses it, in its words
		}
		path := filepath.Join("/proc/sys", strings.ReplaceAll(s.Key, ".", "/"))
		p.Add(stage.OpWrite, nil, []string{path, s.Value}, stage.Prefixed(fmt.Sprintf("sysctl %s=%s (%s)", s.Key, s.Value, s.Why)))
	}
	return nil
}

func renderHostname(cfg *initConfig, p *stage.Program) error {
	p.Add(stage.OpHostname, nil, []string{cfg.Component.Process.Hostname}, nil)
	return nil
}

func renderRlimits(cfg *initConfig, p *stage.Program) error {
	return renderRlimitList(cfg.Component.Rlimits, p)
}

func renderFallbackRlimits(cfg *initConfig, p *stage.Program) error {
	return renderRlimitList(cfg.FallbackRlimits, p)
}

func renderRlimitList(rs []plan.Rlimit, p *stage.Program) error {
	for _, r := range rs {
		t, ok := rlimitTypes[r.Type]
		if !ok {
			return errGoInit
		}
		p.Add(stage.OpRlimit, []uint64{uint64(t), r.Soft, r.Hard}, nil, stage.Prefixed(r.Type))
	}
	return nil
}

func renderNoNewPrivs(_ *initConfig, p *stage.Program) error {
	p.Add(stage.OpPrctl, []uint64{unix.PR_SET_NO_NEW_PRIVS, 1}, nil, nil)
	return nil
}

func renderWaitGo(_ *initConfig, p *stage.Program) error {
	p.Add(stage.OpWaitGo, nil, nil, func(e stage.Error) string {
		if e.Kind == 2 {
			return e.Cause() // more descriptors than the stage keeps
		}
		var err error
		if e.Errno != 0 {
			err = e.Errno
		}
		return fmt.Sprintf("the supervisor went away before the go signal (%v)", err)
	})
	return nil
}

func renderSanitize(_ *initConfig, p *stage.Program) error {
	p.Add(stage.OpCloseFDs, nil, nil, nil)
	return nil
}

func renderWorkdir(cfg *initConfig, p *stage.Program) error {
	p.Add(stage.OpChdir, nil, []string{cfg.Component.Process.Cwd}, nil)
	return nil
}

func renderSeccomp(cfg *initConfig, p *stage.Program) error {
	prog := cfg.Component.Seccomp.Program
	if len(prog) == 0 || len(prog)%8 != 0 {
		return errGoInit
	}
	p.Add(stage.OpSeccomp, nil, []string{string(prog)}, nil)
	return nil
}

// renderExec is the exec after the last step, worded as explainExec words it.
func renderExec(cfg *initConfig, p *stage.Program) {
	proc := cfg.Component.Process
	strs := append(slices.Clone(proc.Args), proc.Env...)
	prog := proc.Args[0]
	p.Step("exec")
	p.Add(stage.OpExec, []uint64{uint64(len(proc.Args))}, strs, func(e stage.Error) string {
		switch e.Kind {
		case 1:
			return fmt.Sprintf("%s: %v: the program is not in the sandbox; list it (or its directory) under filesystem.read", prog, e.Errno)
		case 2:
			return fmt.Sprintf("%s: %v (its interpreter %s is present; a file it needs is not)", prog, e.Errno, e.Detail)
		case 3:
			dir := e.Detail[:strings.LastIndexByte(e.Detail, '/')+1]
			return fmt.Sprintf("the ELF interpreter %s of %s is not in the sandbox: add extends: [host-runtime] or filesystem.read: [%s, /usr/lib]", e.Detail, prog, or(strings.TrimSuffix(dir, "/"), "/"))
		}
		return fmt.Sprintf("%s: %v", prog, e.Errno)
	})
}

// renderLandlock is restrictLandlock's ruleset as one op: the handled sets, then each path
// with its rights and each port. go-landlock's downgrade under best_effort stays in Go.
func renderLandlock(cfg *initConfig, p *stage.Program) error {
	ll := cfg.Component.Landlock
	if slices.Contains(cfg.Component.BestEffort, "landlock") {
		return errGoInit
	}
	fs, err1 := rights(fsRights, ll.HandledFS)
	net, err2 := rights(netRights, ll.HandledNet)
	scoped, err3 := rights(scopes, ll.Scoped)
	if err := errors.Join(err1, err2, err3); err != nil {
		return errGoInit
	}
	ints := []uint64{uint64(fs), uint64(net), uint64(scoped), uint64(fileRights), uint64(len(ll.Paths)), uint64(len(ll.BindTCP)), uint64(len(ll.ConnectTCP))}
	var paths []string
	accesses := make([]landlock.AccessFSSet, len(ll.Paths))
	for i, pa := range ll.Paths {
		a, err := rights(fsRights, pa.Access)
		if err != nil {
			return errGoInit
		}
		accesses[i] = a
		ints = append(ints, uint64(a))
		paths = append(paths, pa.Path)
	}
	for _, port := range ll.BindTCP {
		ints = append(ints, uint64(port))
	}
	for _, port := range ll.ConnectTCP {
		ints = append(ints, uint64(port))
	}
	p.Add(stage.OpLandlock, ints, paths, func(e stage.Error) string {
		i := int(e.Aux)
		switch e.Kind {
		case 2, 3:
			call := "open"
			if e.Kind == 3 {
				call = "landlock_add_rule"
			}
			return fmt.Sprintf("populating ruleset for %q with access %v: %s: %v", paths[i], accesses[i], call, e.Errno)
		case 4:
			return fmt.Sprintf("landlock_add_rule: port rule %d: %v", i, e.Errno)
		case 5:
			return fmt.Sprintf("landlock_restrict_self: %v", e.Errno)
		}
		return fmt.Sprintf("landlock_create_ruleset: %v", e.Errno)
	})
	return nil
}
