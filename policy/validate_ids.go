package policy

import (
	"fmt"
	"regexp"
	"strconv"
	"sync"
)

// idRangeSize is how many ids a component has inside its user namespace (0-65535):
// as root each component gets its own host range of that size (sandbox/ids_linux.go).
const idRangeSize = 65536

// groupName is what useradd(8) accepts by default, and Samba's trailing $.
var groupName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z_][a-z0-9_.-]{0,31}\$?$`) })

// ids checks run.user and run.groups against the component's 65,536 ids.
func (v *validator) ids() {
	r := v.c.Run
	if r.User != "" {
		if u, err := ParseUser(r.User); err == nil && (u.UID >= idRangeSize || u.GID >= idRangeSize) {
			v.add("run.user", "expected ids below %d (a component has ids 0-%d of its own), found %q", idRangeSize, idRangeSize-1, r.User)
		}
	}
	seen := map[string]int{}
	for i, g := range r.Groups {
		field := fmt.Sprintf("run.groups[%d]", i)
		if n, err := strconv.ParseUint(g, 10, 32); err == nil {
			if n >= idRangeSize {
				v.add(field, "expected a gid below %d, found %s", idRangeSize, g)
			}
		} else if !groupName().MatchString(g) {
			v.add(field, "expected a group name (lowercase letters, digits, _ . -) or a gid, found %q", g)
		}
		if j, ok := seen[g]; ok {
			v.add(field, "%s is already listed at run.groups[%d]", g, j)
		}
		seen[g] = i
	}
}

// effectiveIDs checks what only the merged policy shows: under a rootfs, read paths are
// part of the (idmapped) rootfs and are not bound, so idmap on them would do nothing.
func (v *validator) effectiveIDs(eff *Component) {
	if eff.Run.Rootfs == "" {
		return
	}
	for i, p := range v.c.Filesystem.Read {
		if v.c.Filesystem.Idmap[p] {
			v.add(fmt.Sprintf("filesystem.read[%d].idmap", i), "under run.rootfs, read paths are part of the rootfs, which is idmapped as a whole; leave idmap out")
		}
	}
}
