package policy

import (
	"fmt"
	"slices"
)

// hostEntry is one host path a component sees: a filesystem.read or write entry (or its
// rootfs), where it lies on the host, and whether the component may write there.
type hostEntry struct {
	member int // index in the stack
	host   string
	write  bool
	field  string // the declaration in the member's own file, or "extends" for a profile's
	order  int    // the entry's index among all entries
}

// channelNode is a path component in the tree of every member's host paths.
type channelNode struct {
	kids             map[string]*channelNode
	readers, writers []*hostEntry
}

// maxChannelErrors bounds the undeclared channels reported from one entry: past it,
// more would only repeat the remedy.
const maxChannelErrors = 3

// hostEntries lists what c (merged as eff) sees of the host. A tmpfs is private.
func hostEntries(i int, c, eff *Component) []*hostEntry {
	var out []*hostEntry
	own := func(key, p string) string {
		list := c.Filesystem.Read
		if key == "write" {
			list = c.Filesystem.Write
		}
		if k := slices.Index(list, p); k >= 0 {
			return fmt.Sprintf("filesystem.%s[%d]", key, k)
		}
		return "extends"
	}
	// A volume is the store's directory, whoever mounts it where: keyed by its name.
	// An image's own files and its run's upper are private, and so is every write path
	// of an image run that is not a volume.
	image := eff.Run.Image != ""
	switch {
	case image:
	case eff.Run.Rootfs != "":
		out = append(out, &hostEntry{member: i, host: hostPath(eff, "/"), field: "run.rootfs"})
	default:
		for _, p := range eff.Filesystem.Read {
			out = append(out, &hostEntry{member: i, host: p, field: own("read", p)})
		}
	}
	for _, p := range eff.Filesystem.Write {
		if _, vol := eff.Filesystem.Volumes[p]; vol || !image {
			out = append(out, &hostEntry{member: i, host: hostPath(eff, p), write: true, field: own("write", p)})
		}
	}
	for k, b := range eff.Filesystem.Bind {
		out = append(out, &hostEntry{member: i, host: b.abs, write: b.Write, field: fmt.Sprintf("filesystem.bind[%d].source", k)})
	}
	return out
}

// volumeKey stands for the store's volumes in the tree of host paths: an absolute path
// no host entry can name, so volume VOL meets only the same volume.
const volumeKey = "/(volume)/"

// validateShared refuses a host path one member may write and another may read or
// write, unless both declare it in filesystem.share. Every member's host paths go into
// one tree; each entry then looks only along its own path, at the entries on or above
// it, so each nested pair is met once, from its deeper (or later) entry, and the cost is
// the total length of the paths plus the pairs found.
func validateShared(s *Stack, effective map[string]*Component, x *channelIndex, errs *ErrorList) {
	var all []*hostEntry
	for i, c := range s.Members {
		eff := effective[c.Name]
		if eff == nil {
			continue // its profiles did not merge; that error is reported
		}
		for _, e := range hostEntries(i, c, eff) {
			if checkPath(e.host) == "" {
				e.order = len(all)
				all = append(all, e)
			}
		}
	}
	meetings(all, func(e, y *hostEntry) bool { return reportShared(s, x, e, y, errs) })
}

// meetings calls f with each pair of entries of different members, at least one of
// which writes, whose paths nest: e on or above y's path. f reports whether it counted
// the pair; after maxChannelErrors counted pairs, y looks no further.
func meetings(all []*hostEntry, f func(e, y *hostEntry) bool) {
	root := &channelNode{}
	for _, e := range all {
		n := root
		for _, part := range pathParts(e.host) {
			if n.kids == nil {
				n.kids = map[string]*channelNode{}
			}
			if n.kids[part] == nil {
				n.kids[part] = &channelNode{}
			}
			n = n.kids[part]
		}
		if e.write {
			n.writers = append(n.writers, e)
		} else {
			n.readers = append(n.readers, e)
		}
	}
	for _, y := range all {
		found := 0
		meet := func(n *channelNode, self bool) {
			for _, list := range [][]*hostEntry{n.writers, n.readers} {
				if !y.write && len(list) > 0 && !list[0].write {
					continue // two readers share nothing
				}
				for _, e := range list {
					if found >= maxChannelErrors {
						return
					}
					if e.member == y.member || (self && e.order >= y.order) {
						continue
					}
					if f(e, y) {
						found++
					}
				}
			}
		}
		n := root
		parts := pathParts(y.host)
		meet(n, len(parts) == 0)
		for k, part := range parts {
			if n = n.kids[part]; n == nil {
				break
			}
			meet(n, k == len(parts)-1)
		}
	}
}

// reportShared reports the pair of entries a (on or above b's path) and b unless both
// members share the deeper path, b's; it says whether it reported.
func reportShared(s *Stack, x *channelIndex, a, b *hostEntry, errs *ErrorList) bool {
	ca, cb := s.Members[a.member], s.Members[b.member]
	if x.shared(ca, cb, b.host) {
		return false
	}
	// Reported in the later member's file, naming the earlier one's declaration.
	here, there, other := b, a, ca
	if a.member > b.member {
		here, there, other = a, b, cb
	}
	c := s.Members[here.member]
	verb := map[bool]string{true: "writes", false: "reads"}
	errs.Add(c.pos.at(here.field), here.field, "%s %s %s and %s %s %s (%s %s): an undeclared channel; declare it on both sides with filesystem.share {path: %s, with: [%s]} and {path: %s, with: [%s]} in %s, or serve a socket with network.unix and connect: unix",
		c.Name, verb[here.write], here.host, other.Name, verb[there.write], there.host, other.pos.at(there.field), there.field,
		b.host, other.Name, b.host, c.Name, other.File)
	return true
}

// shared reports whether a and b both declare a share, with each other, of a host path
// holding p.
func (x *channelIndex) shared(a, b *Component, p string) bool {
	for h, with := range x.shares[a] {
		if with[b.Name] && within(p, h) && x.shares[b][h][a.Name] {
			return true
		}
	}
	return false
}
