package sandbox

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"syscall"

	"github.com/confine-sandbox/confine/policy/plan"
)

// subIDMaps are a rootless component's id maps through the invoking user's subordinate
// ids, written by the setuid newuidmap and newgidmap once the init stage exists: the
// component's own user (run.user) is the invoker, so it reads and writes the invoker's
// files as today's single-id map does (write paths cannot be idmapped without root), and
// every other id of 0-65535 is a subordinate id of the invoker's, so a daemon that drops
// from root to its service user can chown to it. Rootless Podman maps container 0 to the
// invoker; this is the same map when run.user is 0.
type subIDMaps struct {
	uids, gids []syscall.SysProcIDMap
}

// The subordinate-id files, variables for the unit tests.
var subUIDFile, subGIDFile = "/etc/subuid", "/etc/subgid"

// rootlessIDs returns the maps through subordinate ids, or nil and a finding that says
// why the component gets only its one id (the invoker's) and what would give it more.
func rootlessIDs(c *plan.Component) (*subIDMaps, *Finding) {
	uid, gid := os.Geteuid(), os.Getegid()
	single := func(why string) (*subIDMaps, *Finding) {
		return nil, &Finding{Component: c.Name, Mechanism: "ids", Detail: fmt.Sprintf(
			"%s: only uid %d and gid %d are mapped (to host uid %d, gid %d), so chown to any other id fails with EINVAL",
			why, c.Process.UID, c.Process.GID, uid, gid)}
	}
	if c.Process.UID >= RangeSize || c.Process.GID >= RangeSize {
		return single(fmt.Sprintf("run.user %d:%d lies outside the component's ids 0-%d", c.Process.UID, c.Process.GID, RangeSize-1))
	}
	for _, tool := range []string{"newuidmap", "newgidmap"} {
		if _, err := exec.LookPath(tool); err != nil {
			return single(tool + " is not installed (Debian package uidmap)")
		}
	}
	names := []string{strconv.Itoa(uid)}
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		names = append(names, u.Username)
	}
	subU, err := subRange(subUIDFile, names)
	if err != nil {
		return single(err.Error())
	}
	subG, err := subRange(subGIDFile, names)
	if err != nil {
		return single(err.Error())
	}
	return &subIDMaps{
		uids: mapAround(c.Process.UID, uid, subU),
		gids: mapAround(c.Process.GID, gid, subG),
	}, nil
}

// subRange is the start of the first entry of path for one of names that holds
// RangeSize-1 ids: every id of the component but its own.
func subRange(path string, names []string) (uint32, error) {
	all, err := readSubIDs(path)
	if err != nil {
		return 0, err
	}
	for _, n := range names {
		for _, s := range all[n] {
			if s.count >= RangeSize-1 && s.start+RangeSize-1 <= 1<<32 {
				return uint32(s.start), nil
			}
		}
	}
	return 0, fmt.Errorf("%s has no entry of %d ids for %s (add %s:START:%d)", path, RangeSize, names[len(names)-1], names[len(names)-1], RangeSize)
}

// mapAround maps container id own onto host id invoker, and the other ids of
// 0..RangeSize-1 in order onto the subordinate ids from sub.
func mapAround(own uint32, invoker int, sub uint32) []syscall.SysProcIDMap {
	var out []syscall.SysProcIDMap
	if own > 0 {
		out = append(out, syscall.SysProcIDMap{ContainerID: 0, HostID: int(sub), Size: int(own)})
	}
	out = append(out, syscall.SysProcIDMap{ContainerID: int(own), HostID: invoker, Size: 1})
	if rest := RangeSize - 1 - int(own); rest > 0 {
		out = append(out, syscall.SysProcIDMap{ContainerID: int(own) + 1, HostID: int(sub) + int(own), Size: rest})
	}
	return out
}

// write runs newuidmap and newgidmap for pid, the init stage, which waits for its config
// meanwhile. newgidmap denies setgroups(2) in the namespace, since the map holds the
// invoker's own gid (shadow's fix for CVE-2018-7169): run.groups stays refused.
func (m *subIDMaps) write(pid int) error {
	if m == nil {
		return nil
	}
	for _, t := range []struct {
		tool string
		maps []syscall.SysProcIDMap
	}{{"newuidmap", m.uids}, {"newgidmap", m.gids}} {
		args := []string{strconv.Itoa(pid)}
		for _, e := range t.maps {
			args = append(args, strconv.Itoa(e.ContainerID), strconv.Itoa(e.HostID), strconv.Itoa(e.Size))
		}
		if out, err := exec.Command(t.tool, args...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s %s: %v: %s", t.tool, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

// clearMaps leaves the maps to write (Go would write uid_map itself, which an
// unprivileged user may do for one id only), and the credential: until newuidmap has run
// no id but the overflow one exists in the namespace. The init stage starts as the
// invoker, who is the component's user inside once the maps are there.
func (m *subIDMaps) clearMaps(attr *syscall.SysProcAttr) {
	if m == nil {
		return
	}
	attr.UidMappings, attr.GidMappings, attr.Credential = nil, nil, nil
	attr.GidMappingsEnableSetgroups = false
}
