package policy

import (
	"fmt"
	"path"
	"slices"
)

// channelIndex holds each component's channel declarations by key, so that every
// two-sided check is a map lookup.
type channelIndex struct {
	byName  map[string]*Component
	serves  map[*Component]map[string]int             // socket path → network.unix index
	clients map[*Component]map[string]bool            // "server:/path" the component connects to
	shares  map[*Component]map[string]map[string]bool // host path → with
}

func newChannelIndex(members []*Component) *channelIndex {
	x := &channelIndex{byName: map[string]*Component{}, serves: map[*Component]map[string]int{},
		clients: map[*Component]map[string]bool{}, shares: map[*Component]map[string]map[string]bool{}}
	for _, c := range members {
		x.byName[c.Name] = c
		x.serves[c], x.clients[c], x.shares[c] = map[string]int{}, map[string]bool{}, map[string]map[string]bool{}
		for i, u := range c.Network.Unix {
			if _, dup := x.serves[c][u.Path]; !dup {
				x.serves[c][u.Path] = i
			}
		}
		for _, conn := range c.Network.Connect {
			if conn.Unix != "" && conn.unix.err == nil {
				x.clients[c][conn.unix.v.String()] = true
			}
		}
		for _, s := range c.Filesystem.Share {
			h := hostPath(c, s.Path)
			if x.shares[c][h] == nil {
				x.shares[c][h] = map[string]bool{}
			}
			for _, w := range s.With {
				x.shares[c][h][w] = true
			}
		}
	}
	return x
}

// validateChannels checks the stack's channels: both sides of every unix socket and
// share, where a socket lies, and that no host path is shared undeclared. effective
// holds the members' merged policies (nil when a merge failed: the path checks, which
// need them, are then left out).
func validateChannels(s *Stack, effective map[string]*Component, errs *ErrorList) {
	if s.IsSingle() {
		for _, c := range s.Members {
			if eff := effective[c.Name]; eff != nil {
				validateSockets(c, eff, errs)
			}
		}
		return
	}
	x := newChannelIndex(s.Members)
	names := memberNames(s)
	peer := func(c *Component, field, name string) *Component {
		p, ok := x.byName[name]
		switch {
		case !ok:
			errs.Add(c.pos.at(field), field, "unknown component %q%s; the stack has: %s", name, memberHint(*errs, name, names), stackHas(names))
		case p == c:
			errs.Add(c.pos.at(field), field, "%s names itself; a channel joins two components", c.Name)
		default:
			return p
		}
		return nil
	}
	for _, c := range s.Members {
		for i, u := range c.Network.Unix {
			for j, from := range u.From {
				field := fmt.Sprintf("network.unix[%d].from[%d]", i, j)
				if client := peer(c, field, from); client != nil && validName(from) && !x.clients[client][c.Name+":"+u.Path] {
					errs.Add(c.pos.at(field), field, "%s serves %s to %s, but %s does not connect to unix %s:%s (%s)", c.Name, u.Path, from, from, c.Name, u.Path, client.pos.at("network"))
				}
			}
		}
		for i, conn := range c.Network.Connect {
			field := fmt.Sprintf("network.connect[%d].unix", i)
			if conn.Unix == "" || conn.unix.err != nil {
				continue
			}
			t := conn.unix.v
			server := peer(c, field, t.Component)
			if server == nil {
				continue
			}
			j, ok := x.serves[server][t.Path]
			switch {
			case !ok:
				errs.Add(c.pos.at(field), field, "%s connects to unix %s, but %s serves no socket %s in network.unix (%s)", c.Name, t, server.Name, t.Path, server.pos.at("network"))
			case !slices.Contains(server.Network.Unix[j].From, c.Name):
				lf := fmt.Sprintf("network.unix[%d].from", j)
				errs.Add(c.pos.at(field), field, "%s connects to unix %s, but %s's network.unix from does not name %s (%s)", c.Name, t, server.Name, c.Name, server.pos.at(lf))
			}
			if eff, seff := effective[c.Name], effective[server.Name]; eff != nil && seff != nil {
				validateSocketView(c, eff, field, t, errs)
			}
		}
		for i, sh := range c.Filesystem.Share {
			h := hostPath(c, sh.Path)
			for j, w := range sh.With {
				field := fmt.Sprintf("filesystem.share[%d].with[%d]", i, j)
				if other := peer(c, field, w); other != nil && validName(w) && !x.shares[other][h][c.Name] {
					errs.Add(c.pos.at(field), field, "%s shares %s with %s, but %s's filesystem.share does not share it with %s (%s)", c.Name, h, w, w, c.Name, other.pos.at("filesystem"))
				}
			}
		}
		if eff := effective[c.Name]; eff != nil {
			validateSockets(c, eff, errs)
		}
	}
	if effective != nil {
		validateShared(s, effective, x, errs)
	}
}

// validateSockets checks that each socket c serves lies beneath a filesystem.write path,
// where the server can create it and the host can hand its directory to the clients; a
// tmpfs is the component's own and no client could see it.
func validateSockets(c, eff *Component, errs *ErrorList) {
	write, tmpfs := newPathTree(eff.Filesystem.Write), newPathTree(eff.Filesystem.Tmpfs)
	for i, u := range c.Network.Unix {
		field := fmt.Sprintf("network.unix[%d].path", i)
		if checkPath(u.Path) != "" || path.Dir(u.Path) == "/" {
			continue
		}
		dir, inWrite, inTmpfs := path.Dir(u.Path), false, ""
		write.holders(dir, func(string) { inWrite = true })
		tmpfs.holders(dir, func(t string) { inTmpfs = t })
		switch {
		case inTmpfs != "":
			errs.Add(c.pos.at(field), field, "%s lies in the tmpfs %s, which is %s's own; a socket its clients reach needs its directory under filesystem.write", u.Path, inTmpfs, c.Name)
		case !inWrite:
			errs.Add(c.pos.at(field), field, "%s is not beneath any filesystem.write path of %s; list its directory %s (or a parent) there", u.Path, c.Name, dir)
		}
	}
}

// validateSocketView checks where a client sees the socket's directory: confine binds
// it there, and a declared path holding or beneath it would carry the client's Landlock
// rights over the server's directory, or hide it.
func validateSocketView(c, eff *Component, field string, t UnixTarget, errs *ErrorList) {
	dir := path.Dir(t.Path)
	for _, l := range []struct {
		key   string
		paths []string
	}{{"read", eff.Filesystem.Read}, {"write", eff.Filesystem.Write}, {"tmpfs", eff.Filesystem.Tmpfs}} {
		for _, p := range l.paths {
			if checkPath(p) == "" && (within(dir, p) || within(p, dir)) {
				errs.Add(c.pos.at(field), field, "the socket's directory %s, which confine binds into %s, meets filesystem.%s %s; move the socket, or that path, so that neither holds the other", dir, c.Name, l.key, p)
				return
			}
		}
	}
	for _, own := range []string{"/proc", "/dev"} {
		if within(dir, own) {
			errs.Add(c.pos.at(field), field, "%s lies inside %s, which confine mounts itself", dir, own)
		}
	}
}
