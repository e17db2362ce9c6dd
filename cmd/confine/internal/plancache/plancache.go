// Package plancache keeps the Plans `confine run FILE` compiled, so that a start of a
// policy compiled before skips the YAML, the validation, the profile merge and the
// compile, and decodes the kept Plan as `run --plan` decodes one (planahead). A Plan is
// taken only when everything it was compiled from is as it was then: this binary
// (sandbox/progcache's identity: the profiles and compile are built into it), the
// kernel, the name FILE was given by, the bytes of every file the loader read (the
// policy, a stack's component files), every absolute path the loader was given (a
// relative bind source's, which follows the working directory), and the digest the
// image store records for each run.image (images.go). Compile consults nothing else of
// the host: no user database (the sandbox resolves run.user), no environment, no
// clock; a policy with errors is never kept.
//
// Kept Plans are root's alone, as kept seccomp programs are: a directory only root may
// enter (/var/cache/confine/plans), entries root wrote, each checked against its key,
// its own checksum and the files it names before it is used; anything else is ignored,
// and the policy compiled as before (cmd/confine/internal/compileahead, which keeps the
// Plan it compiles).
//
// The package needs neither the YAML library nor package policy: its init runs early
// among the binary's, and takes the kept Plan of `confine run FILE` (ahead.go) on another
// core while the rest initialise, as planahead decodes the Plan of `run --plan`.
package plancache

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/cmd/confine/internal/planahead"
	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/policy/tree"
	"github.com/confine-sandbox/confine/sandbox/progcache"
)

// DefaultDir is where root's runs keep Plans; a start keeps it, and the one EnvDir
// names, out of its component's reach (progcache.Dirs).
const DefaultDir = progcache.PlanDir

// EnvDir names another directory (tests), or "off" for no kept Plans.
const EnvDir = progcache.PlanEnvDir

// maxPolicy bounds what take reads of a file to check it; the loader takes less.
const maxPolicy = 16 << 20

// Cache is the kept Plans of one binary on one kernel.
type Cache struct {
	store
	host string // the binary's identity and the kernel's
	// Store is the command's --store ("": none), for the images of a Plan (images.go);
	// StoreUnsure, when the command line leaves it unsure: no Plan with images is taken.
	Store       string
	StoreUnsure bool
}

// Open is the cache of this process: nil without root, or when EnvDir says "off", or
// progcache's does: a kept Plan holds its seccomp programs, and who turned the program
// store off wants them built.
func Open() *Cache {
	dir := os.Getenv(EnvDir)
	switch {
	case os.Geteuid() != 0 || dir == "off" || os.Getenv(progcache.EnvDir) == "off":
		return nil
	case dir == "" || !filepath.IsAbs(dir):
		dir = DefaultDir
	}
	return At(dir)
}

// At is the cache in dir, of whoever this process runs as (root's, from Open), or nil
// when this binary or kernel cannot be told.
func At(dir string) *Cache {
	id, err := progcache.BinaryID()
	if err != nil {
		return nil
	}
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return nil
	}
	kernel := unix.ByteSliceToString(u.Release[:]) + " " + unix.ByteSliceToString(u.Version[:]) + " " + unix.ByteSliceToString(u.Machine[:])
	return &Cache{store: store{dir: dir, owner: os.Geteuid()}, host: id + "\n" + kernel}
}

// key names an entry: the binary, the kernel, the name FILE was given by and the bytes
// the loader read of it, each after its length.
func (c *Cache) key(file string, sum [sha256.Size]byte) string {
	var b []byte
	for _, s := range []string{magic, c.host, file} {
		b = appendBytes(b, []byte(s))
	}
	k := sha256.Sum256(append(b, sum[:]...))
	return hex.EncodeToString(k[:])
}

// Take is the Plan kept for file, read through t, or nil: none kept, or one kept from
// other files.
func (c *Cache) Take(t *tree.Tree, file string) *plan.Plan {
	top, ok := sumOf(t, file)
	if !ok {
		return nil
	}
	key := c.key(file, top)
	e, ok := decodeEntry(c.read(key), key)
	if !ok || e.deps[0].name != file || e.deps[0].sum != top {
		return nil
	}
	for _, d := range e.deps[1:] {
		if sum, ok := sumOf(t, d.name); !ok || sum != d.sum {
			return nil
		}
	}
	for _, a := range e.abs {
		if abs, err := t.Abs(a.name); err != nil || abs != a.abs {
			return nil
		}
	}
	p, err := planahead.Decode(e.plan)
	if err != nil || !whole(p) {
		return nil
	}
	if !c.imagesAsThen(e.images) { // after the decode: this may wait for main's init
		return nil
	}
	return p
}

// whole: p is a Plan of this format whose seccomp programs are the ones it names, as
// readPlan checks a Plan file (the entry's checksum already covers it).
func whole(p *plan.Plan) bool {
	if p.Version != plan.Version || len(p.Components) == 0 {
		return false
	}
	for _, c := range p.Components {
		sum := sha256.Sum256(c.Seccomp.Program)
		if len(c.Seccomp.Program) == 0 || hex.EncodeToString(sum[:]) != c.Seccomp.ProgramSHA256 {
			return false
		}
	}
	return true
}

// sumOf is the SHA-256 of name, opened through t as the loader opens it.
func sumOf(t *tree.Tree, name string) (sum [sha256.Size]byte, ok bool) {
	f, err := t.Open(name)
	if err != nil {
		return sum, false
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(f, maxPolicy+1))
	if err != nil || n > maxPolicy {
		return sum, false
	}
	h.Sum(sum[:0])
	return sum, true
}

// Keep keeps p, compiled from file through rec, when that was all it was compiled from:
// the caller keeps no Plan whose compile failed, and notes each image it resolved.
func (c *Cache) Keep(file string, rec *Recorder, p *plan.Plan) {
	deps, ok := rec.deps()
	if !ok || deps[0].name != file {
		return
	}
	data, err := json.Marshal(p)
	if err != nil {
		return
	}
	key := c.key(file, deps[0].sum)
	e := entry{key: key, deps: deps, abs: rec.abs, images: rec.images, plan: data}
	c.write(key, e.encode())
}
