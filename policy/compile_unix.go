package policy

import (
	"fmt"
	"path"
	"slices"
	"sort"

	"github.com/confine-sandbox/confine/policy/plan"
)

// compileChannels adds each member's channels to its Plan: both halves of every unix
// socket and share, and, for a client, the bind of the socket's directory from the
// server's host path, applied by setupRootfs (sandbox/mounts_linux.go) like any bind.
// Landlock below ABI 9 has no rule for connect(2) to a pathname socket
// (LANDLOCK_ACCESS_FS_RESOLVE_UNIX), so the mount view confines it: only a declared
// client sees the directory, read-only and without Landlock rights to read it, and the
// socket's owner, group and mode (idmapped: the ids on disk are the ids inside both
// components) decide the rest.
// Positions come from the members' own files, as the two-sided checks read them.
func compileChannels(p *plan.Plan, s *Stack, effective map[string]*Component) {
	byName := map[string]*Component{}
	for _, c := range s.Members {
		byName[c.Name] = c
	}
	for i, c := range s.Members {
		cp, eff := &p.Components[i], effective[c.Name]
		for k, conn := range c.Network.Connect {
			if conn.Unix == "" {
				continue
			}
			t := conn.unix.v
			why := fmt.Sprintf("%s network.connect[%d] unix %s", c.pos.at(fmt.Sprintf("network.connect[%d].unix", k)), k, conn.Unix)
			server := effective[t.Component]
			if s.IsSingle() || server == nil {
				cp.Net.Unresolved = append(cp.Net.Unresolved, "connect unix "+conn.Unix)
				continue
			}
			dir := path.Dir(t.Path)
			idmap := true
			for _, w := range server.Filesystem.Write {
				if within(dir, w) {
					idmap = server.Filesystem.idmapped(w, true)
				}
			}
			addMountBeforeProc(cp, plan.Mount{Type: "bind", Source: hostPath(server, dir), Target: dir,
				Options: []string{"ro", "nosuid", "nodev", "noexec"}, Why: "network.connect unix", Idmap: idmap})
			cp.Channels = append(cp.Channels, plan.Channel{Kind: "unix", Peer: t.Component, Role: "connect", Path: t.Path, HostPath: hostPath(server, t.Path), Why: why})
		}
		for k, u := range c.Network.Unix {
			for j, from := range u.From {
				why := fmt.Sprintf("%s network.unix[%d].from[%d] %s %s", c.pos.at(fmt.Sprintf("network.unix[%d].from[%d]", k, j)), k, j, u.Path, from)
				if s.IsSingle() {
					cp.Net.Unresolved = append(cp.Net.Unresolved, fmt.Sprintf("unix %s from %s", u.Path, from))
					continue
				}
				cp.Channels = append(cp.Channels, plan.Channel{Kind: "unix", Peer: from, Role: "serve", Path: u.Path, HostPath: hostPath(eff, u.Path), Why: why})
			}
		}
		for k, sh := range c.Filesystem.Share {
			h := hostPath(eff, sh.Path)
			role := "read"
			for _, w := range eff.Filesystem.Write {
				if hw := hostPath(eff, w); within(h, hw) || within(hw, h) {
					role = "write"
				}
			}
			for j, w := range sh.With {
				why := fmt.Sprintf("%s filesystem.share[%d].with[%d] %s %s", c.pos.at(fmt.Sprintf("filesystem.share[%d].with[%d]", k, j)), k, j, sh.Path, w)
				if s.IsSingle() {
					cp.Net.Unresolved = append(cp.Net.Unresolved, fmt.Sprintf("share %s with %s", sh.Path, w))
					continue
				}
				cp.Channels = append(cp.Channels, plan.Channel{Kind: "share", Peer: w, Role: role, Path: sh.Path, HostPath: h, Why: why})
			}
		}
		sort.SliceStable(cp.Channels, func(a, b int) bool {
			x, y := cp.Channels[a], cp.Channels[b]
			return x.Kind+"\x00"+x.Path+"\x00"+x.Peer < y.Kind+"\x00"+y.Path+"\x00"+y.Peer
		})
	}
}

// addMountBeforeProc puts m after the declared paths and before the mounts confine
// makes itself (/proc, /dev), as compileMounts orders them.
func addMountBeforeProc(cp *plan.Component, m plan.Mount) {
	i := slices.IndexFunc(cp.Mounts, func(x plan.Mount) bool { return x.Type == "proc" })
	if i < 0 {
		i = len(cp.Mounts)
	}
	cp.Mounts = slices.Insert(cp.Mounts, i, m)
}
