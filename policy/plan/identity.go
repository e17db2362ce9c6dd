package plan

import "fmt"

// Identity says whom the process runs as, in words: its ids, or run.user's names, which
// the sandbox resolves in its own /etc/passwd and /etc/group when it starts.
func (p Process) Identity() string {
	switch {
	case p.User != "" && p.Group != "":
		return fmt.Sprintf("user %s, group %s (resolved in the sandbox's /etc/passwd and /etc/group when it starts)", p.User, p.Group)
	case p.User != "":
		return fmt.Sprintf("user %s (its uid and primary gid from the sandbox's /etc/passwd when it starts)", p.User)
	case p.Group != "":
		return fmt.Sprintf("uid %d, group %s (resolved in the sandbox's /etc/group when it starts)", p.UID, p.Group)
	}
	return fmt.Sprintf("uid %d, gid %d", p.UID, p.GID)
}

// RootInside reports whether the process is known to run as uid or gid 0 inside: a name
// counts as root only when it is "root".
func (p Process) RootInside() bool {
	uidRoot := p.User == "root" || p.User == "" && p.UID == 0
	gidRoot := p.Group == "root" || p.Group == "" && p.User == "" && p.GID == 0
	return uidRoot || gidRoot
}
