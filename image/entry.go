package image

import (
	"archive/tar"
	"fmt"
	"path"
	"slices"
	"strings"
)

// opKind is what the unpacker does with one tar entry.
type opKind int

const (
	opSkip     opKind = iota // dropped, with a note
	opDir                    // mkdir (or update an existing directory)
	opFile                   // a regular file, created anew
	opSymlink                // kept as written: it resolves inside the root at run time
	opLink                   // a hard link to an entry of this same layer
	opWhiteout               // .wh.NAME: a 0/0 character device NAME, made by confine
	opOpaque                 // .wh..wh..opq: the directory hides what lower layers hold
)

// op is one entry's plan: decided from the header alone, so it is tested without a kernel.
type op struct {
	kind   opKind
	name   string // cleaned, relative to the layer root; "" is the root itself
	dir    string // parent of name
	base   string // last component of name
	target string // opSymlink: the link text; opLink: the cleaned target name
	mode   uint32 // permission bits, setuid and setgid cleared
	note   string // why an entry was dropped or changed, for the pull's output
}

// LayerError is a refused layer: it names the layer (first 12 hex digits of its digest)
// and the entry at fault, quoted since names are untrusted.
type LayerError struct {
	Layer  string
	Entry  string
	Reason string
}

func (e *LayerError) Error() string {
	if e.Entry == "" {
		return fmt.Sprintf("layer %s: %s", e.Layer, e.Reason)
	}
	return fmt.Sprintf("layer %s: entry %q: %s", e.Layer, e.Entry, e.Reason)
}

const (
	whPrefix = ".wh."
	whOpaque = ".wh..wh..opq"
	maxPath  = 4096
)

// cleanName makes a tar name relative to the layer root, refusing what could leave it:
// absolute names, any ".." component, NUL bytes, names past PATH_MAX.
func cleanName(n string) (string, error) {
	switch {
	case n == "":
		return "", fmt.Errorf("empty name")
	case len(n) > maxPath:
		return "", fmt.Errorf("name longer than %d bytes", maxPath)
	case strings.IndexByte(n, 0) >= 0:
		return "", fmt.Errorf("name contains a NUL byte")
	case strings.HasPrefix(n, "/"):
		return "", fmt.Errorf("absolute name leaves the layer")
	}
	for _, c := range strings.Split(n, "/") {
		if c == ".." {
			return "", fmt.Errorf("name contains \"..\" and would leave the layer")
		}
	}
	c := path.Clean(n)
	if c == "." {
		return "", nil
	}
	return c, nil
}

// setid is the bits an image never brings into the store.
const setid = 0o6000

// planEntry decides what to do with one header; an error refuses the whole layer.
func planEntry(h *tar.Header) (op, error) {
	name, err := cleanName(h.Name)
	if err != nil {
		return op{}, err
	}
	if h.Uid < 0 || h.Gid < 0 || h.Uid >= 1<<32-1 || h.Gid >= 1<<32-1 {
		return op{}, fmt.Errorf("owner %d:%d is not a uid:gid", h.Uid, h.Gid)
	}
	o := op{name: name, mode: uint32(h.Mode) & 0o7777}
	o.dir, o.base = path.Split(name)
	o.dir = strings.TrimSuffix(o.dir, "/")
	if o.mode&setid != 0 {
		o.note = "setuid/setgid bits cleared"
		o.mode &^= setid
	}
	for _, c := range strings.Split(o.dir, "/") {
		if strings.HasPrefix(c, whPrefix) {
			return op{}, fmt.Errorf("a whiteout name is not a directory")
		}
	}
	if strings.HasPrefix(o.base, whPrefix) {
		return planWhiteout(o)
	}
	if name == "" && h.Typeflag != tar.TypeDir {
		// CVE-2021-29136: a symlink (or anything) named "." would replace the root.
		return op{}, fmt.Errorf("the layer root must be a directory")
	}
	switch h.Typeflag {
	case tar.TypeDir:
		o.kind = opDir
	case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse:
		o.kind = opFile
	case tar.TypeSymlink:
		if h.Linkname == "" || len(h.Linkname) > maxPath-1 || strings.IndexByte(h.Linkname, 0) >= 0 {
			return op{}, fmt.Errorf("symlink target is empty, has a NUL byte or is too long")
		}
		o.kind, o.target = opSymlink, h.Linkname
	case tar.TypeLink:
		t, err := cleanName(h.Linkname)
		if err != nil {
			return op{}, fmt.Errorf("hardlink target %q: %v", h.Linkname, err)
		}
		if t == "" || t == name {
			return op{}, fmt.Errorf("hardlink to %q", h.Linkname)
		}
		o.kind, o.target = opLink, t
	case tar.TypeChar, tar.TypeBlock:
		o.kind, o.note = opSkip, "device node dropped (devices never reach the store; the run provides /dev)"
	case tar.TypeFifo:
		o.kind, o.note = opSkip, "FIFO dropped"
	default:
		o.kind, o.note = opSkip, fmt.Sprintf("entry of tar type %q dropped", h.Typeflag)
	}
	return o, nil
}

// planWhiteout turns .wh.NAME and .wh..wh..opq into overlayfs form, inside this layer.
func planWhiteout(o op) (op, error) {
	if o.base == whOpaque {
		o.kind, o.name, o.note = opOpaque, o.dir, ""
		return o, nil
	}
	if strings.HasPrefix(o.base, whPrefix+whPrefix) {
		o.kind, o.note = opSkip, "aufs metadata dropped"
		return o, nil
	}
	t := strings.TrimPrefix(o.base, whPrefix)
	if t == "" || t == "." || t == ".." {
		return op{}, fmt.Errorf("whiteout of %q leaves its directory", t)
	}
	o.kind, o.base, o.note = opWhiteout, t, ""
	o.name = path.Join(o.dir, t)
	return o, nil
}

// keepXattr says which extended attributes an image may set: user.* (not user.overlay.*,
// which overlayfs reads as its own metadata) and POSIX ACLs. Everything else is dropped:
// security.capability (file capabilities), security.selinux, trusted.* (trusted.overlay.*
// would forge whiteouts, redirects and metacopy).
func keepXattr(k string) bool {
	switch {
	case strings.HasPrefix(k, "user.overlay."):
		return false
	case strings.HasPrefix(k, "user."):
		return true
	}
	return k == "system.posix_acl_access" || k == "system.posix_acl_default"
}

// xattrs are the entry's extended attributes that pass keepXattr, and a note when some did not.
func xattrs(h *tar.Header) (map[string]string, string) {
	var keep map[string]string
	var dropped []string
	for k, v := range h.PAXRecords {
		x, ok := strings.CutPrefix(k, "SCHILY.xattr.")
		if !ok {
			continue
		}
		if !keepXattr(x) {
			dropped = append(dropped, x)
			continue
		}
		if keep == nil {
			keep = map[string]string{}
		}
		keep[x] = v
	}
	if len(dropped) == 0 {
		return keep, ""
	}
	slices.Sort(dropped)
	return keep, "xattrs dropped: " + strings.Join(dropped, ", ")
}
