package sandbox

import (
	"path"

	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/policy/plan"
)

// procAhead says whether the ops may take the /proc a spare made ahead with its masks
// and read-only binds on it (stage_ahead.c; OpAhead marks the ops it stands for, and the
// stage checks them against what it made): the Plan's one proc is the default, nothing
// else is mounted on or beneath /proc nor over the root after it, and the masks' /dev/null is the host's, bound with
// the default flags, by a mount that nothing later covers. The stage takes the piece
// only when the ops are its recipe; otherwise they run as without the spare.
func procAhead(mounts []plan.Mount) bool {
	procs, null := 0, -1
	for i, m := range mounts {
		target := path.Clean("/" + m.Target)
		flags, data := mountOptions(m)
		switch {
		case m.Type == "proc":
			if target != "/proc" || m.Source != "proc" || flags != unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC || data != "" {
				return false
			}
			procs++
		case target == "/proc" || pathUnder(target, "/proc"):
			return false
		case procs > 0 && pathUnder("/proc", target):
			return false // the root mounted again over the /proc: the ops mask what it holds
		case target == "/dev/null":
			if null >= 0 || m.Type != "bind" || m.Source != "/dev/null" || m.Idmap || flags != unix.MS_NOSUID|unix.MS_NOEXEC || data != "" {
				return false
			}
			null = i
		case null >= 0 && pathUnder("/dev/null", target):
			return false // /dev or / mounted again over the masks' source
		}
	}
	return procs == 1 && null >= 0
}

// pathUnder: p is beneath dir (both clean and absolute).
func pathUnder(p, dir string) bool {
	return dir == "/" && p != "/" || len(p) > len(dir) && p[:len(dir)] == dir && p[len(dir)] == '/'
}
