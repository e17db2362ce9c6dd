package observe

import (
	"path"
	"slices"
	"strings"

	"github.com/confine-sandbox/confine/policy/plan"
)

// Open flags, decoded from the architecture's O_* by the sandbox into Call.Open.
const (
	OpenWrite     = 1 << iota // O_WRONLY or O_RDWR
	OpenRead                  // O_RDONLY or O_RDWR
	OpenCreate                // O_CREAT
	OpenTrunc                 // O_TRUNC
	OpenDirectory             // O_DIRECTORY
	OpenPath                  // O_PATH: no access is checked
)

// The flags other calls' rights depend on; the values are the kernel's on every
// architecture.
const (
	atRemoveDir = 0x200    // AT_REMOVEDIR
	sIFMT       = 0o170000 // the file type bits of a mode
	sIFDIR      = 0o040000
	sIFCHR      = 0o020000
	sIFBLK      = 0o060000
	sIFIFO      = 0o010000
	sIFSOCK     = 0o140000
)

// Access is one access a call makes: what the contract with `confine learn` calls it
// (read, write, exec, create, remove, list) and the Landlock rights it needs on Path
// (the file itself, or for create and remove its directory).
type Access struct {
	Path   string   `json:"path"`
	Access string   `json:"access"`
	Rights []string `json:"rights"`
	// Target is the file created or removed, when Path is its directory.
	Target string `json:"target,omitempty"`
}

// Accesses are the file accesses of an observed call, as Landlock would check them.
// open flags is c.Args' open flags decoded (OpenRead…); for a call Landlock does not
// restrict (chown, stat) there are none. A file that is not there gives none either,
// unless the call creates it: the call fails with ENOENT before Landlock is asked (the
// Go runtime's read of /sys/kernel/mm/…, where a sandbox has no /sys).
func Accesses(c Call, open int) []Access {
	p := func(i int) string {
		if i < len(c.Paths) {
			return c.Paths[i]
		}
		return ""
	}
	kind := func(i int) FileKind {
		if i < len(c.Kinds) {
			return c.Kinds[i]
		}
		return Missing
	}
	var out []Access
	switch c.Syscall {
	case "open", "openat", "openat2", "creat":
		if c.Syscall == "creat" {
			open = OpenWrite | OpenCreate | OpenTrunc
		}
		out = openAccesses(p(0), kind(0), open)
	case "execve", "execveat":
		if kind(0) != Missing {
			out = []Access{{Path: p(0), Access: "exec", Rights: []string{"execute"}}}
		}
	case "truncate":
		if kind(0) != Missing {
			out = []Access{{Path: p(0), Access: "write", Rights: []string{"truncate"}}}
		}
	case "mkdir", "mkdirat":
		out = []Access{create(p(0), "make_dir")}
	case "mknod", "mknodat":
		mode := c.Args[1]
		if c.Syscall == "mknodat" {
			mode = c.Args[2]
		}
		out = []Access{create(p(0), nodeRight(mode))}
	case "unlink", "rmdir", "unlinkat":
		if kind(0) == Missing {
			break
		}
		right := "remove_file"
		if c.Syscall == "rmdir" || c.Syscall == "unlinkat" && c.Args[2]&atRemoveDir != 0 {
			right = "remove_dir"
		}
		out = []Access{remove(p(0), right)}
	case "rename", "renameat", "renameat2":
		if kind(0) == Missing {
			break
		}
		rm, mk := "remove_file", "make_reg"
		if kind(0) == Dir {
			rm, mk = "remove_dir", "make_dir"
		}
		out = []Access{remove(p(0), rm), create(p(1), mk)}
		if path.Dir(p(0)) != path.Dir(p(1)) {
			out[0].Rights = append(out[0].Rights, "refer")
			out[1].Rights = append(out[1].Rights, "refer")
		}
	case "link", "linkat":
		out = []Access{create(p(1), "make_reg")}
		if path.Dir(p(0)) != path.Dir(p(1)) {
			out[0].Rights = append(out[0].Rights, "refer")
		}
	case "symlink", "symlinkat":
		out = []Access{create(p(0), "make_sym")}
	case "bind":
		if c.Sock != nil && c.Sock.Family == "unix" && c.Sock.Path != "" {
			out = []Access{create(c.Sock.Path, "make_sock")}
		}
	}
	return slices.DeleteFunc(out, func(a Access) bool { return a.Path == "" })
}

func openAccesses(p string, k FileKind, open int) []Access {
	if open&OpenPath != 0 || k == Missing && open&OpenCreate == 0 {
		return nil
	}
	var out []Access
	if open&OpenCreate != 0 && k == Missing {
		out = append(out, create(p, "make_reg"))
	}
	switch {
	case open&OpenRead != 0 && (k == Dir || open&OpenDirectory != 0):
		out = append(out, Access{Path: p, Access: "list", Rights: []string{"read_dir"}})
	case open&OpenRead != 0:
		out = append(out, Access{Path: p, Access: "read", Rights: []string{"read_file"}})
	}
	if open&OpenWrite != 0 {
		rights := []string{"write_file"}
		if open&OpenTrunc != 0 {
			rights = append(rights, "truncate")
		}
		out = append(out, Access{Path: p, Access: "write", Rights: rights})
	}
	return out
}

func create(p, right string) Access {
	return Access{Path: path.Dir(p), Target: p, Access: "create", Rights: []string{right}}
}

func remove(p, right string) Access {
	return Access{Path: path.Dir(p), Target: p, Access: "remove", Rights: []string{right}}
}

func nodeRight(mode uint64) string {
	switch mode & sIFMT {
	case sIFCHR:
		return "make_char"
	case sIFBLK:
		return "make_block"
	case sIFIFO:
		return "make_fifo"
	case sIFSOCK:
		return "make_sock"
	case sIFDIR:
		return "make_dir"
	}
	return "make_reg"
}

// MissingRights are the rights of a that the Landlock ruleset ll would have refused:
// handled rights granted by no rule on a.Path or a directory above it (Landlock's rules
// grant beneath their path). nil when ll allows a.
func MissingRights(ll plan.Landlock, a Access) []string {
	granted := map[string]bool{}
	for _, r := range ll.Paths {
		if beneath(a.Path, r.Path) {
			for _, g := range r.Access {
				granted[g] = true
			}
		}
	}
	var missing []string
	for _, right := range a.Rights {
		if slices.Contains(ll.HandledFS, right) && !granted[right] {
			missing = append(missing, right)
		}
	}
	return missing
}

// beneath reports whether p is dir or inside it.
func beneath(p, dir string) bool {
	dir = strings.TrimSuffix(dir, "/")
	return p == dir || dir == "" || strings.HasPrefix(p, dir+"/")
}
