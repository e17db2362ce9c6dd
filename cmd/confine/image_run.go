//go:build !confine_slim

package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/confine-sandbox/confine/cmd/confine/internal/compileahead"
	"github.com/confine-sandbox/confine/cmd/confine/internal/plancache"
	"github.com/confine-sandbox/confine/image"
	"github.com/confine-sandbox/confine/policy"
	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/sandbox"
	"github.com/confine-sandbox/confine/supervisor"
)

// storeResolver gives compile the facts of each run.image from the store, which it
// opens on first use (a policy without an image never touches it). With pull, an image
// the store lacks is pulled first (run and up); otherwise it is an error that says to
// pull it (explain, compile, audit).
type storeResolver struct {
	store    *image.Store
	pull     bool
	progress io.Writer
}

func (r *storeResolver) ResolveImage(ref string) (*policy.ImageFacts, error) {
	if r.store == nil {
		s, err := openStore()
		if err != nil {
			return nil, err
		}
		r.store = s
	}
	recs, err := r.store.Lookup(ref)
	if err != nil && r.pull {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		p := newProgress(r.progress, false)
		rec, perr := r.store.Pull(ctx, ref, p)
		p.wait()
		if perr != nil {
			return nil, perr
		}
		recs, err = []image.Record{rec}, nil
	}
	if err != nil {
		return nil, err
	}
	img, err := r.store.ImageByDigest(recs[0].Digest)
	if err != nil {
		return nil, err
	}
	return imageFacts(img)
}

// StoreDir is the absolute directory of the store r read (compileahead.StoreDir: a Plan
// of its images is kept with their digests), or "".
func (r *storeResolver) StoreDir() string {
	if r.store == nil {
		return ""
	}
	return absStore(r.store.Dir)
}

// The compile ahead of `run FILE` reads run.image from the store as it is: an image it
// lacks fails that compile, and run's own, which pulls, compiles the file again. A Plan
// kept with images is taken while the store records the same digests.
func init() {
	plancache.SetImages(func(flag string) string { return absStore(storeDirOf(flag)) }, storeIndex, recordedDigest)
	compileahead.SetImages(storeAhead)
}

// storeDirOf is the store's directory for --store dir: dir, or else CONFINE_STORE, or
// the default.
func storeDirOf(dir string) string {
	if dir == "" {
		dir = os.Getenv("CONFINE_STORE")
	}
	if dir == "" {
		dir = image.DefaultDir()
	}
	return dir
}

func absStore(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return ""
	}
	return abs
}

// storeIndex is the bytes of the index of the store at dir, nil for none.
func storeIndex(dir string) []byte {
	b, _ := image.ReadIndex(dir)
	return b
}

// recordedDigest is the manifest digest that index, the store at dir's, records for ref
// (the one a compile resolves it to), or "".
func recordedDigest(dir string, index []byte, ref string) string {
	recs, err := image.LookupIn(dir, index, ref)
	if err != nil || len(recs) == 0 {
		return ""
	}
	return recs[0].Digest
}

// storeAhead is a resolver on the store at dir (--store, or else CONFINE_STORE, or the
// default) that only reads it, or nil when there is no store there.
func storeAhead(dir string) policy.ImageResolver {
	s, err := image.OpenExisting(storeDirOf(dir))
	if err != nil {
		return nil
	}
	return &storeResolver{store: s}
}

// imageFacts is what compile reads of a stored image.
func imageFacts(img *image.Image) (*policy.ImageFacts, error) {
	cfg := img.Config.Config
	f := &policy.ImageFacts{Digest: img.Digest.String(), ConfigDigest: img.ConfigDigest.String(),
		Entrypoint: cfg.Entrypoint, Cmd: cfg.Cmd, Env: cfg.Env, User: cfg.User, WorkingDir: cfg.WorkingDir}
	for _, d := range img.DiffIDs {
		f.DiffIDs = append(f.DiffIDs, d.String())
	}
	for p := range cfg.ExposedPorts {
		f.ExposedPorts = append(f.ExposedPorts, p)
	}
	for v := range cfg.Volumes {
		f.Volumes = append(f.Volumes, v)
	}
	sort.Strings(f.ExposedPorts)
	sort.Strings(f.Volumes)
	if cfg.User != "" {
		var err error
		if f.UID, f.GID, err = img.LookupUser(cfg.User); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// prepareStorage readies, beside the caller, the store's part of a component that needs
// it (run.image or a volume: supervisor.PrepareStorage), or is nil. hosts is the run's
// /etc/hosts (sandbox.Options.Hosts), which an image without one gets in its upper.
func prepareStorage(c *plan.Component, hosts string) *storage {
	if !needsStore(c) {
		return nil
	}
	return readyStorage(func(opts *sandbox.Options) (func(), error) {
		opts.Hosts = hosts
		s, err := openStore()
		if err != nil {
			return nil, err
		}
		return supervisor.PrepareStorage(s, c, opts)
	})
}

// planStore is the store for a stack's supervisor, or nil when no component needs it.
func planStore(p *plan.Plan) (*image.Store, error) {
	for i := range p.Components {
		if needsStore(&p.Components[i]) {
			return openStore()
		}
	}
	return nil, nil
}

// shortImage is REF@sha256:HEX cut to 12 digits, for ps.
func shortImage(s string) string {
	if i := strings.Index(s, "@sha256:"); i >= 0 && len(s) > i+8+12 {
		return s[:i+8+12]
	}
	return s
}
