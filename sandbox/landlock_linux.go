package sandbox

import (
	"fmt"
	"os"
	"slices"

	"github.com/landlock-lsm/go-landlock/landlock"
	llsys "github.com/landlock-lsm/go-landlock/landlock/syscall"

	"github.com/confine-sandbox/confine/policy/plan"
)

var fsRights = map[string]landlock.AccessFSSet{
	"execute": llsys.AccessFSExecute, "write_file": llsys.AccessFSWriteFile, "read_file": llsys.AccessFSReadFile,
	"read_dir": llsys.AccessFSReadDir, "remove_dir": llsys.AccessFSRemoveDir, "remove_file": llsys.AccessFSRemoveFile,
	"make_char": llsys.AccessFSMakeChar, "make_dir": llsys.AccessFSMakeDir, "make_reg": llsys.AccessFSMakeReg,
	"make_sock": llsys.AccessFSMakeSock, "make_fifo": llsys.AccessFSMakeFifo, "make_block": llsys.AccessFSMakeBlock,
	"make_sym": llsys.AccessFSMakeSym, "refer": llsys.AccessFSRefer, "truncate": llsys.AccessFSTruncate,
	"ioctl_dev": llsys.AccessFSIoctlDev,
}

// fileRights are the rights that apply to a file rather than a directory.
const fileRights = landlock.AccessFSSet(llsys.AccessFSExecute | llsys.AccessFSWriteFile | llsys.AccessFSReadFile | llsys.AccessFSTruncate | llsys.AccessFSIoctlDev)

var netRights = map[string]landlock.AccessNetSet{"bind_tcp": llsys.AccessNetBindTCP, "connect_tcp": llsys.AccessNetConnectTCP}

var scopes = map[string]landlock.ScopedSet{"abstract_unix_socket": llsys.ScopeAbstractUnixSocket, "signal": llsys.ScopeSignal}

func rights[T ~uint64](table map[string]T, names []string) (T, error) {
	var set T
	for _, n := range names {
		r, ok := table[n]
		if !ok {
			return 0, fmt.Errorf("unknown Landlock right %q", n)
		}
		set |= r
	}
	return set, nil
}

// restrictLandlock applies the Plan's ruleset: paths as seen after pivot_root, TCP ports,
// and IPC scopes. Preflight has already refused a kernel without the ABI the Plan needs,
// unless the policy lists landlock under best_effort, where go-landlock downgrades.
func restrictLandlock(cfg *initConfig) error {
	if cfg.Component.Mode == plan.ModeAudit {
		return nil // Landlock has no permissive mode: audit mode observes files instead (observe_linux.go)
	}
	ll := cfg.Component.Landlock
	fs, err := rights(fsRights, ll.HandledFS)
	if err != nil {
		return err
	}
	net, err := rights(netRights, ll.HandledNet)
	if err != nil {
		return err
	}
	scoped, err := rights(scopes, ll.Scoped)
	if err != nil {
		return err
	}
	conf, err := landlock.NewConfig(fs, net, scoped)
	if err != nil {
		return err
	}
	if slices.Contains(cfg.Component.BestEffort, "landlock") {
		*conf = conf.BestEffort()
	}
	// Landlock logs a domain's denials only until the next execve(2) unless asked to
	// (LANDLOCK_RESTRICT_SELF_LOG_NEW_EXEC_ON, ABI 7): the component runs after exec.
	// Logging observes, it does not enforce, so a kernel before ABI 7 runs without it:
	// under best_effort go-landlock drops the flag itself (restrictTo), but without it
	// the flag alone would fail Restrict, so it is only asked for where the kernel has it.
	if abi, err := llsys.LandlockGetABIVersion(); err == nil && abi >= 7 {
		*conf = conf.EnableLoggingForSubprocesses()
	}
	var rules []landlock.Rule
	for _, p := range ll.Paths {
		access, err := rights(fsRights, p.Access)
		if err != nil {
			return err
		}
		// The kernel refuses directory rights on a file (a declared /etc/ld.so.cache).
		if fi, err := os.Stat(p.Path); err == nil && !fi.IsDir() {
			access &= fileRights
		}
		rules = append(rules, landlock.PathAccess(access, p.Path))
	}
	for _, port := range ll.BindTCP {
		rules = append(rules, landlock.BindTCP(port))
	}
	for _, port := range ll.ConnectTCP {
		rules = append(rules, landlock.ConnectTCP(port))
	}
	return conf.Restrict(rules...)
}
