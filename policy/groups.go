package policy

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// syscallGroups returns the built-in @groups, each expanded to plain syscall names,
// sorted. They come from groups_table.go: profiles/syscall_groups.yaml expanded as a Go
// literal (expanding at each start cost about 0.1 ms of every compile); TestGroupsTable
// keeps the two the same and refuses a cycle or an unknown group there. The error is
// always nil: it stays for the callers, which handle one.
var syscallGroups = sync.OnceValues(func() (map[string][]string, error) {
	return groupsTable(), nil
})

// GroupNames lists the built-in syscall groups, sorted.
func GroupNames() []string {
	groups, _ := syscallGroups()
	names := make([]string, 0, len(groups))
	for n := range groups {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// errnos are the values a deny rule's errno may name.
var errnos = map[string]int{
	"EPERM": 1, "ENOENT": 2, "EIO": 5, "E2BIG": 7, "EBADF": 9, "EAGAIN": 11, "ENOMEM": 12,
	"EACCES": 13, "EFAULT": 14, "EBUSY": 16, "EEXIST": 17, "ENODEV": 19, "EINVAL": 22,
	"ENOTTY": 25, "ENOSPC": 28, "EROFS": 30, "ENOSYS": 38, "EPROTONOSUPPORT": 93,
	"EOPNOTSUPP": 95, "EAFNOSUPPORT": 97, "EADDRNOTAVAIL": 99, "ENETUNREACH": 101,
	"ECONNREFUSED": 111, "EHOSTUNREACH": 113,
}

// argValue evaluates an integer or named constants joined by "|".
func argValue(s string) (uint64, error) {
	var v uint64
	for _, part := range strings.Split(s, "|") {
		part = strings.TrimSpace(part)
		if n, ok := argConstants()[part]; ok {
			v |= n
			continue
		}
		n, err := strconv.ParseUint(part, 0, 64)
		if err != nil {
			var names []string
			for k := range argConstants() {
				names = append(names, k)
			}
			return 0, fmt.Errorf("expected an integer or a named constant (AF_INET, CLONE_NEWUSER|CLONE_NEWNS, TIOCSTI), found %q%s", part, suggest(part, names))
		}
		v |= n
	}
	return v, nil
}

// GroupMembers returns the syscalls of a built-in group ("@basic-io"), expanded and
// sorted, or nil for an unknown name. confine learn reads it to name a whole group.
func GroupMembers(name string) []string {
	groups, _ := syscallGroups()
	return slices.Clone(groups[name])
}
