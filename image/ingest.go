package image

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"
)

// Progress hears about a pull. Its methods are called from several goroutines at once.
type Progress interface {
	// Layer is called as a layer starts downloading (total: compressed bytes, -1 if
	// unknown); the returned func is called with each count of bytes read, done at the end.
	Layer(id string, total int64) (tick func(int), done func(err error))
	// Exists says a layer is already in the store.
	Exists(id string)
	// Note passes on what unpacking dropped or changed (untrusted names are quoted).
	Note(id, msg string)
}

type noProgress struct{}

func (noProgress) Layer(string, int64) (func(int), func(error)) { return nil, func(error) {} }
func (noProgress) Exists(string)                                {}
func (noProgress) Note(string, string)                          {}

// found is one image a source offers, with the names to record for it.
type found struct {
	img   v1.Image
	names []string
}

// layerTypes are the layer media types confine unpacks; foreign (Windows) layers and
// artifacts that are not images are refused.
var layerTypes = map[types.MediaType]bool{
	types.DockerLayer: true, types.DockerUncompressedLayer: true,
	types.OCILayer: true, types.OCIUncompressedLayer: true, types.OCILayerZStd: true,
}

// ingest brings one image into the store: manifest and config checked against their
// digests, each missing layer fetched, verified and unpacked, then the names recorded.
func (s *Store) ingest(ctx context.Context, f found, p Progress) (Record, error) {
	work, release, err := s.workDir()
	if err != nil {
		return Record{}, err
	}
	defer release()
	raw, err := f.img.RawManifest()
	if err != nil {
		return Record{}, fmt.Errorf("manifest: %w", err)
	}
	if int64(len(raw)) > s.Limits.Blob {
		return Record{}, fmt.Errorf("manifest of %d bytes is past the limit of %d", len(raw), s.Limits.Blob)
	}
	digest, _, _ := v1.SHA256(bytes.NewReader(raw))
	if want, err := f.img.Digest(); err != nil || want != digest {
		// An index (of a layout or a registry) named this manifest by another digest.
		return Record{}, fmt.Errorf("manifest is %s, its descriptor says %s (%v)", digest, want, err)
	}
	m, cfg, craw, err := s.checkImage(f.img, raw)
	if err != nil {
		return Record{}, fmt.Errorf("image %s: %w", digest, err)
	}
	// The pin: prune keeps what a running pull names, even before its record exists.
	if err := os.WriteFile(filepath.Join(work, "manifest"), []byte(digest.String()), 0o600); err != nil {
		return Record{}, err
	}
	for _, b := range []struct {
		h v1.Hash
		b []byte
	}{{m.Config.Digest, craw}, {digest, raw}} {
		if err := writeAtomic(s.blobPath(b.h), b.b, work); err != nil {
			return Record{}, err
		}
	}
	if err := s.fetchLayers(ctx, f.img, m, cfg, work, p); err != nil {
		return Record{}, err
	}
	rec := Record{Digest: digest.String(), ConfigDigest: m.Config.Digest.String(),
		Created: cfg.Created.Time, Pulled: time.Now().UTC().Truncate(time.Second)}
	for _, id := range cfg.RootFS.DiffIDs {
		rec.Layers = append(rec.Layers, id.String())
		if li, err := s.layerInfo(id); err == nil {
			rec.Size += li.Size
		}
	}
	names := f.names
	if len(names) == 0 {
		names = []string{""}
	}
	var recs []Record
	for _, n := range names {
		r := rec
		r.Name = n
		recs = append(recs, r)
	}
	return rec, s.update(func(all []Record) ([]Record, error) {
		return setRecords(all, recs), s.complete(digest, m, cfg)
	})
}

// complete checks, under the index lock, that everything a record will name is in the
// store (a prune between fetch and commit would otherwise leave a record of nothing).
func (s *Store) complete(d v1.Hash, m *v1.Manifest, cfg *v1.ConfigFile) error {
	for _, h := range []v1.Hash{d, m.Config.Digest} {
		if _, err := os.Stat(s.blobPath(h)); err != nil {
			return fmt.Errorf("blob %s vanished during the pull (a concurrent prune?); pull again", h)
		}
	}
	for _, id := range cfg.RootFS.DiffIDs {
		if !s.hasLayer(id) {
			return fmt.Errorf("layer %s vanished during the pull (a concurrent prune?); pull again", id)
		}
	}
	return nil
}

// checkImage parses and checks the manifest and config: the config's digest, that it is
// a Linux image, and that its diff_ids match the manifest's layers one for one.
func (s *Store) checkImage(img v1.Image, raw []byte) (*v1.Manifest, *v1.ConfigFile, []byte, error) {
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("manifest: %w", err)
	}
	if m.Config.MediaType != types.DockerConfigJSON && m.Config.MediaType != types.OCIConfigJSON {
		return nil, nil, nil, fmt.Errorf("not a container image (config media type %q)", m.Config.MediaType)
	}
	if len(m.Layers) > s.Limits.Layers {
		return nil, nil, nil, fmt.Errorf("%d layers is past the limit of %d", len(m.Layers), s.Limits.Layers)
	}
	if m.Config.Size > s.Limits.Blob {
		return nil, nil, nil, fmt.Errorf("config of %d bytes is past the limit of %d", m.Config.Size, s.Limits.Blob)
	}
	craw, err := img.RawConfigFile()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("config: %w", err)
	}
	if got, _, _ := v1.SHA256(bytes.NewReader(craw)); got != m.Config.Digest {
		return nil, nil, nil, fmt.Errorf("config is %s, the manifest says %s", got, m.Config.Digest)
	}
	cfg, err := v1.ParseConfigFile(bytes.NewReader(craw))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("config: %w", err)
	}
	if cfg.OS != "" && cfg.OS != "linux" {
		return nil, nil, nil, fmt.Errorf("an image for %s, not linux", cfg.OS)
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return nil, nil, nil, fmt.Errorf("the manifest has %d layers, the config %d diff_ids", len(m.Layers), len(cfg.RootFS.DiffIDs))
	}
	for i, l := range m.Layers {
		if !layerTypes[l.MediaType] {
			return nil, nil, nil, fmt.Errorf("layer %s: media type %q is not a layer confine unpacks", short(l.Digest.Hex), l.MediaType)
		}
		if cfg.RootFS.DiffIDs[i].Algorithm != "sha256" || l.Digest.Algorithm != "sha256" {
			return nil, nil, nil, fmt.Errorf("layer %d: only sha256 digests are supported", i)
		}
	}
	return m, cfg, craw, nil
}

// fetchLayers unpacks the layers the store lacks, a few at a time.
func (s *Store) fetchLayers(ctx context.Context, img v1.Image, m *v1.Manifest, cfg *v1.ConfigFile, work string, p Progress) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(max(1, s.Jobs))
	seen := map[v1.Hash]bool{}
	for i, desc := range m.Layers {
		diffID := cfg.RootFS.DiffIDs[i]
		if seen[diffID] {
			continue
		}
		seen[diffID] = true
		if s.hasLayer(diffID) {
			p.Exists(short(desc.Digest.Hex))
			continue
		}
		g.Go(func() error { return s.fetchLayer(ctx, img, desc, diffID, work, p) })
	}
	return g.Wait()
}

func (s *Store) fetchLayer(ctx context.Context, img v1.Image, desc v1.Descriptor, diffID v1.Hash, work string, p Progress) error {
	id := short(desc.Digest.Hex)
	tick, done := p.Layer(id, desc.Size)
	err := s.unpackLayer(ctx, img, desc, diffID, work, tick)
	done(err)
	if err == nil {
		if li, lerr := s.layerInfo(diffID); lerr == nil {
			for _, n := range li.Notes {
				p.Note(id, n)
			}
		}
	}
	return err
}

func (s *Store) layerInfo(diffID v1.Hash) (LayerInfo, error) {
	var li LayerInfo
	b, err := os.ReadFile(filepath.Join(s.layerPath(diffID), "layer.json"))
	if err == nil {
		err = json.Unmarshal(b, &li)
	}
	return li, err
}

// errCanceled wraps a context cancellation seen between reads.
var errCanceled = errors.New("pull canceled")
