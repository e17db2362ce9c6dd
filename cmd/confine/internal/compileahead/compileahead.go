// Package compileahead compiles the policy of `confine run FILE` while the last of the
// binary's packages initialise: its init runs as soon as package policy's has, and the
// compile runs on another core beside the inits that follow (the network, cgroup and
// image libraries, cobra) and beside cobra's parse of the command line. It is the
// compile run would make a moment later, by the same calls: run takes it (Take) only for
// the file cobra then names, and only when it succeeded; anything else, a policy with
// errors to list or an image the store lacks, is compiled again by run itself. A
// run.image is resolved against the store as it is (Images): nothing is pulled, and an
// image not in the store fails the compile here, so that run's own pulls it. When root's
// kept Plans hold FILE's (plancache, which looked it up earlier still), that Plan is
// taken instead, and the one compiled here is kept, with the digest of each image it
// asked the store for.
package compileahead

import (
	"fmt"
	"io/fs"
	"os"

	"github.com/confine-sandbox/confine/cmd/confine/internal/plancache"
	"github.com/confine-sandbox/confine/policy"
	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/sandbox/progcache"
)

// ahead is the compile started by init, or nil.
var ahead *plancache.Early

func init() { start(os.Args) }

// start begins the compile for the command line args, if it runs a policy file.
func start(args []string) {
	file, at := policyArg(args)
	ahead = plancache.StartEarlyFile(file, func(file string) *plan.Plan {
		if !at.flag {
			if p, ok := plancache.Ahead(file); ok {
				return p
			}
		}
		return compile(file, at)
	})
}

// compile is Compile with the store as it is for run.image (unless the command line
// leaves unsure which store run reads) and run's program store, through run's kept
// Plans, or nil when it fails. plancache's init looked up the Plan kept for `run FILE`;
// after --store it did not, and the look-up is made here.
func compile(file string, at storeAt) *plan.Plan {
	t, err := policy.OpenTree(file)
	if err != nil {
		return nil
	}
	defer t.Close()
	c := plancache.Open()
	if c != nil {
		c.Store, c.StoreUnsure = at.dir, at.unsure
	}
	if at.flag && c != nil {
		if p := c.Take(t, file); p != nil {
			return p
		}
	}
	var r policy.ImageResolver
	if !at.unsure {
		r = &aheadImages{dir: at.dir}
	}
	p, err := compileIn(c, t, file, r, Programs())
	if err != nil {
		return nil
	}
	return p
}

// Compile loads FILE once, through a policy.Tree on its directory, and compiles it with
// r for run.image and programs (nil: none) for the seccomp programs. It is how every
// command compiles a policy that has no errors (cmd/confine's compilePolicyWith), so that
// a Plan compiled ahead is the one the command would have compiled; on an error the
// command lists them all itself.
func Compile(file string, r policy.ImageResolver, programs policy.ProgramStore) (*plan.Plan, error) {
	return CompileKept(nil, file, r, programs)
}

// CompileKept is Compile through the kept Plans c (nil: none): it takes the Plan kept for
// FILE when there is one, and otherwise keeps the one it compiles, unless the compile
// asked the image store through a resolver that cannot name it (StoreDir). Its Plan and
// its errors are Compile's.
func CompileKept(c *plancache.Cache, file string, r policy.ImageResolver, programs policy.ProgramStore) (*plan.Plan, error) {
	t, err := policy.OpenTree(file)
	if err != nil {
		return nil, err
	}
	defer t.Close()
	if c != nil {
		if p := c.Take(t, file); p != nil {
			return p, nil
		}
	}
	return compileIn(c, t, file, r, programs)
}

// compileIn is Compile of file through t, keeping the Plan in c (nil: none). The loader
// then reads through a plancache.Recorder, which passes everything on as it is.
func compileIn(c *plancache.Cache, t *policy.Tree, file string, r policy.ImageResolver, programs policy.ProgramStore) (*plan.Plan, error) {
	var fsys fs.FS = t
	var rec *plancache.Recorder
	var res *resolver
	if c != nil {
		rec = plancache.NewRecorder(t)
		fsys = rec
		if r != nil { // compile tells no resolver from one
			res = &resolver{r: r, rec: rec}
			r = res
		}
	}
	s, err := policy.Open(fsys, file)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return nil, fmt.Errorf("%s: nothing to compile", file)
	}
	p, err := policy.CompileWithPrograms(s, r, programs)
	if err == nil && c != nil {
		c.Keep(file, rec, p)
	}
	return p, err
}

// StoreDir is what a resolver of run.image says of the image store it reads: its
// absolute directory, "" when it cannot say (its Plan is then not kept).
type StoreDir interface{ StoreDir() string }

// resolver passes run.image to the command's resolver, noting in rec which store gave
// which digest for each reference (plancache.Recorder.Image): an image's facts come from
// the host's image store, which the files of a kept Plan's key do not cover.
type resolver struct {
	r   policy.ImageResolver
	rec *plancache.Recorder
}

func (r *resolver) ResolveImage(ref string) (*policy.ImageFacts, error) {
	f, err := r.r.ResolveImage(ref)
	dir := ""
	if sd, ok := r.r.(StoreDir); ok {
		dir = sd.StoreDir()
	}
	if err == nil && f != nil {
		r.rec.Image(dir, ref, f.Digest)
	} else {
		r.rec.Image("", ref, "")
	}
	return f, err
}

// Programs is the store of the commands that start components (run, up, learn): root's
// kept seccomp programs, or nil. The commands a reviewer runs compile without one.
func Programs() policy.ProgramStore {
	if s := progcache.Open(); s != nil {
		return s
	}
	return nil
}

// Take returns the Plan that init compiled from file, waiting for a compile still
// running, or ok false when there is none: another file, a failed compile, or one
// already taken.
func Take(file string) (p *plan.Plan, ok bool) { return ahead.Take(file) }
