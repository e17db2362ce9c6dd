package image

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// PruneReport says what a prune or rm freed.
type PruneReport struct {
	Blobs  int `json:"blobs"`
	Layers int `json:"layers"`
	Work   int `json:"work"` // leftovers of interrupted pulls
}

// Remove drops the records REF names (a name, or every name of a digest) and frees
// the content nothing else uses, as docker rmi does.
func (s *Store) Remove(ref string) ([]Record, PruneReport, error) {
	match, err := matcher(ref)
	if err != nil {
		return nil, PruneReport{}, err
	}
	var gone []Record
	err = s.update(func(recs []Record) ([]Record, error) {
		for _, r := range recs {
			if match(r) {
				gone = append(gone, r)
			}
		}
		if len(gone) == 0 {
			return nil, fmt.Errorf("image %s is not in the store", ref)
		}
		return slices.DeleteFunc(recs, match), nil
	})
	if err != nil {
		return nil, PruneReport{}, err
	}
	rep, err := s.Prune()
	return gone, rep, err
}

// Prune removes the blobs and layers that no image record, no run reference (refs/) or
// hold (holds/), and no pull in progress (a flocked tmp/ dir with its manifest pin) names, and the
// leftovers of interrupted pulls. What it removes is renamed into tmp/ under the index
// lock (milliseconds) and deleted after the lock is released.
func (s *Store) Prune() (PruneReport, error) {
	var rep PruneReport
	unlock, err := s.lock()
	if err != nil {
		return rep, err
	}
	trash, err := os.MkdirTemp(filepath.Join(s.Dir, "tmp"), "trash-")
	if err == nil {
		err = s.sweep(trash, &rep)
	}
	unlock()
	if trash != "" {
		removeTree(trash)
	}
	return rep, err
}

func (s *Store) sweep(trash string, rep *PruneReport) error {
	held, release := s.holds() // the images runs hold (hold_linux.go)
	blobs, layers := map[string]bool{}, map[string]bool{}
	swept := false
	defer func() { release(func(d v1.Hash) bool { return !swept || blobs[d.Hex] }) }()
	roots, pins, err := s.roots(trash, rep)
	if err != nil {
		return err
	}
	for _, d := range append(append(roots, pins...), held...) {
		blobs[d.Hex] = true
		m, cfg, err := s.readImage(d)
		if err != nil && (slices.Contains(pins, d) || slices.Contains(held, d)) {
			continue // a pull that has not written its manifest yet has unpacked nothing; a run fails on what is gone
		}
		if err != nil {
			return fmt.Errorf("prune: image %s: %w (remove it with confine image rm)", d, err)
		}
		blobs[m.Config.Digest.Hex] = true
		for _, id := range cfg.RootFS.DiffIDs {
			layers[id.Hex] = true
		}
	}
	rep.Blobs = s.discard(filepath.Join(s.Dir, "blobs", "sha256"), blobs, trash)
	rep.Layers = s.discard(filepath.Join(s.Dir, "layers", "sha256"), layers, trash)
	swept = true
	return nil
}

// readImage reads a stored manifest and its config.
func (s *Store) readImage(d v1.Hash) (*v1.Manifest, *v1.ConfigFile, error) {
	raw, err := s.readBlob(d)
	if err != nil {
		return nil, nil, err
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, nil, err
	}
	craw, err := s.readBlob(m.Config.Digest)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := v1.ParseConfigFile(bytes.NewReader(craw))
	return m, cfg, err
}

// roots are the manifest digests that keep content: image records and run references;
// pins are those of pulls in progress. Dead work dirs are moved to trash on the way.
func (s *Store) roots(trash string, rep *PruneReport) (roots, pins []v1.Hash, err error) {
	recs, err := s.List()
	if err != nil {
		return nil, nil, err
	}
	var ds []string
	for _, r := range recs {
		ds = append(ds, r.Digest)
	}
	refs, _ := os.ReadDir(filepath.Join(s.Dir, "refs"))
	for _, e := range refs {
		if s.deadRef(e.Name(), trash) {
			rep.Work++
			continue
		}
		b, err := os.ReadFile(filepath.Join(s.Dir, "refs", e.Name()))
		var more []string
		if err == nil {
			err = json.Unmarshal(b, &more)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("prune: run reference %s: %v", e.Name(), err)
		}
		ds = append(ds, more...)
	}
	work, _ := os.ReadDir(filepath.Join(s.Dir, "tmp"))
	for _, e := range work {
		p := filepath.Join(s.Dir, "tmp", e.Name())
		if p == trash {
			continue
		}
		if e.IsDir() && inUse(p) {
			if b, err := os.ReadFile(filepath.Join(p, "manifest")); err == nil {
				if h, err := v1.NewHash(string(b)); err == nil {
					pins = append(pins, h)
				}
			}
			continue
		}
		if os.Rename(p, filepath.Join(trash, e.Name())) == nil {
			rep.Work++
		}
	}
	for _, d := range ds {
		h, err := v1.NewHash(d)
		if err != nil {
			return nil, nil, fmt.Errorf("prune: bad digest %q in the store", d)
		}
		roots = append(roots, h)
	}
	return roots, pins, nil
}

// deadRef moves into trash the reference refs/id of a run that is gone, with its run
// dir: a run of an older confine held runs/id's flock for its life and wrote refs/id
// after taking it. Runs now hold their image by a flock (holds/), and one without an
// upper never sweeps runs/ (SweepRuns), so a killed older run's reference would keep
// its image from prune for good.
func (s *Store) deadRef(id, trash string) bool {
	run := filepath.Join(s.Dir, "runs", id)
	if inUse(run) {
		return false
	}
	if os.Rename(filepath.Join(s.Dir, "refs", id), filepath.Join(trash, "ref-"+id)) != nil {
		return false
	}
	os.Rename(run, filepath.Join(trash, "run-"+id))
	return true
}

// discard moves every entry of dir not in keep into trash and counts them.
func (s *Store) discard(dir string, keep map[string]bool, trash string) int {
	es, _ := os.ReadDir(dir)
	n := 0
	for _, e := range es {
		if keep[e.Name()] {
			continue
		}
		if os.Rename(filepath.Join(dir, e.Name()), filepath.Join(trash, filepath.Base(dir)+"-"+e.Name())) == nil {
			n++
		}
	}
	return n
}
