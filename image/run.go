package image

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/internal/trace"
	"github.com/confine-sandbox/confine/policy/plan"
)

// Run is one run's part of the store: runs/ID/{upper,work}, flocked by the run for its
// life (none for a run that writes nothing into its root), and a hold that keeps its
// image from prune (hold_linux.go). Close removes the one and lets the other go.
type Run struct {
	ID           string // runs/ID, for a run with an upper
	Upper, Work  string
	Image        *Image
	dir          string
	lock         *os.File
	hold         *os.File // the image's (hold_linux.go)
	store        *Store
	userXattr    bool
	closed       bool
	lowersTopFst []string
	settled      chan struct{} // closed once Mounted's removal is done; nil before Mounted
}

// RunImage checks the store against the Plan's pins (the manifest, the config and every
// layer's diff_id) and makes the run's upper and work directories. A store whose content differs from
// what was compiled is refused: what runs is what the reviewer saw. The caller chowns
// the upper to the component's host root once it knows its id range. points are the
// directories at the root the run mounts onto: those the image lacks come from a layer of
// empty directories over the image's (mountPoints), not from the upper.
//
// writes false says the run makes nothing in its root but points (no write path, no
// other mount point: sandbox.RootWrites). Such a run has no upper when the image has
// each of points as a directory or lacks it in every layer: its overlay is the lowers
// alone under the layer of mount points (read-only, as its root mount is anyway),
// Upper and Work are "", and nothing of the run is on the store's disk. The upper's
// mkdirs, the overlay's work dir and the removals after the run were ~1 ms of an
// image's start.
func (s *Store) RunImage(p *plan.Image, writes bool, points ...string) (_ *Run, err error) {
	defer trace.Done("parent", "image_run", trace.Now())
	d, err := v1.NewHash(p.Digest)
	if err != nil {
		return nil, fmt.Errorf("the Plan's image %s: %w", p.Ref, err)
	}
	hold, err := s.hold(d) // before the image is read: prune keeps what a run holds
	if err != nil {
		return nil, fmt.Errorf("holding the image %s: %w", p.Ref, err)
	}
	defer func() {
		if err != nil {
			hold.Close()
		}
	}()
	img, err := s.Image(d)
	if err != nil {
		return nil, fmt.Errorf("the Plan's image %s (%s) is not in the store; confine pull %s: %w", p.Ref, short12(p.Digest), p.Ref, err)
	}
	if err := pinned(img, p); err != nil {
		return nil, err
	}
	var lowers []string
	userXattr := false
	for i := len(img.Layers) - 1; i >= 0; i-- {
		lowers = append(lowers, img.LayerDirs[i])
		if img.Layers[i].Xattr == "user" {
			userXattr = true
		}
	}
	upper := writes || !dirsOrAbsent(lowers, points)
	r := &Run{store: s} // ID "": no runs/ID
	if upper {
		if r, err = s.newRun(); err != nil {
			return nil, err
		}
	}
	r.Image, r.lowersTopFst, r.userXattr, r.hold = img, lowers, userXattr, hold
	// Without an upper the layer of mount points is always on top (so an overlay has
	// the two lowers it needs): overlayfs shows the topmost layer's root directory as
	// the run's /, and that layer's is 0755 and root's, as an upper's is; an image's
	// own "./" may be 0700, another owner's or carry an ACL.
	mounts, err := s.mountPoints(r.lowersTopFst, points, !upper)
	if err != nil {
		r.Close()
		return nil, err
	}
	if mounts != "" {
		r.lowersTopFst = append([]string{mounts}, r.lowersTopFst...)
	}
	return r, nil
}

// pinned compares a stored image with the Plan's pins.
func pinned(img *Image, p *plan.Image) error {
	if img.ConfigDigest.String() != p.ConfigDigest {
		return fmt.Errorf("image %s: the store's config is %s, the Plan pins %s; compile again", p.Ref, short12(img.ConfigDigest.String()), short12(p.ConfigDigest))
	}
	var ids []string
	for i, id := range img.DiffIDs {
		ids = append(ids, id.String())
		if img.Layers[i].DiffID != id.String() {
			return fmt.Errorf("image %s: layer %s in the store records diff_id %s", p.Ref, short12(id.String()), short12(img.Layers[i].DiffID))
		}
	}
	if !slices.Equal(ids, p.DiffIDs) {
		return fmt.Errorf("image %s: the store's layers differ from the Plan's diff_ids; compile again", p.Ref)
	}
	return nil
}

// Lowers are the run's read-only layers, top first (overlayfs order).
func (r *Run) Lowers() []string { return r.lowersTopFst }

// UserXattr reports whether a layer carries user.overlay.* xattrs (a store that is not
// root's), so that the overlay must be mounted with userxattr.
func (r *Run) UserXattr() bool { return r.userXattr }

// newRun makes runs/ID with its upper and work directories, flocked.
func (s *Store) newRun() (*Run, error) {
	runs := filepath.Join(s.Dir, "runs")
	if err := os.MkdirAll(runs, 0o700); err != nil {
		return nil, err
	}
	s.SweepRuns()
	d, err := os.MkdirTemp(runs, "run-")
	if err != nil {
		return nil, err
	}
	f, err := os.Open(d)
	if err == nil {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	}
	r := &Run{ID: filepath.Base(d), dir: d, lock: f, store: s, Upper: filepath.Join(d, "upper"), Work: filepath.Join(d, "work")}
	for _, sub := range []string{r.Upper, r.Work} {
		if err == nil {
			err = os.Mkdir(sub, 0o755)
		}
	}
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("the run's upper: %w", err)
	}
	return r, nil
}

// volatileMarks is what a volatile overlay makes in its work dir when mounted, so that a
// later mount of the same upper after a crash refuses it: a run's upper is never mounted
// again (a killed run's is swept), and overlayfs does not read them once mounted.
const volatileMarks = "work/incompat"

// Mounted tells r that its overlay is mounted: the marks it made in the work dir
// (volatileMarks) are removed now, on another goroutine while the component runs, and
// not by Close on the way out of the run. A second call does nothing.
func (r *Run) Mounted() {
	if r.settled != nil || r.Work == "" {
		return
	}
	r.settled = make(chan struct{})
	go func() {
		defer close(r.settled)
		removeTree(filepath.Join(r.Work, volatileMarks))
	}()
}

// Close removes the run's upper (what the component wrote outside its volumes goes with
// it) and lets its image go (its hold). Call it once the run's processes are gone. The
// upper and the work dir are removed side by side: each is a few directories on the
// store's filesystem, where each removal waits for the journal.
func (r *Run) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	defer trace.Done("parent", "image_close", trace.Now())
	if r.hold != nil {
		defer r.hold.Close()
	}
	if r.settled != nil {
		<-r.settled
	}
	if r.dir == "" {
		return nil // no upper: nothing of the run on disk
	}
	work := make(chan error, 1)
	go func() { work <- removeTree(r.Work) }()
	err := removeTree(r.Upper)
	if werr := <-work; err == nil {
		err = werr
	}
	if rerr := removeTree(r.dir); err == nil {
		err = rerr
	}
	if r.lock != nil {
		r.lock.Close()
	}
	return err
}

// SweepRuns removes what runs killed with SIGKILL left: each runs/ID whose flock no
// process holds, with the reference a run of an older confine made (DESIGN.md invariant 7).
func (s *Store) SweepRuns() {
	dirs, _ := filepath.Glob(filepath.Join(s.Dir, "runs", "run-*"))
	for _, d := range dirs {
		if inUse(d) {
			continue
		}
		if err := removeTree(d); err == nil || errors.Is(err, os.ErrNotExist) {
			s.RemoveRef(filepath.Base(d))
		}
	}
}

func short12(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}
