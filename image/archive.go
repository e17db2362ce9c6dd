package image

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// openArchive reads a tarball: an OCI layout in a tar (index.json), else a docker save
// archive (manifest.json). The returned images read from the open file; the file is
// closed when the process ends (a load is one command).
func openArchive(p string) ([]found, error) {
	t, err := openTar(p)
	if err != nil {
		return nil, err
	}
	if _, ok := t.entries["index.json"]; ok {
		raw, err := t.read("index.json", DefaultLimits.Blob)
		if err != nil {
			return nil, err
		}
		return indexImages(&tarIndex{t: t, raw: raw}, "")
	}
	if _, ok := t.entries["manifest.json"]; !ok {
		return nil, fmt.Errorf("%s is neither an OCI archive (index.json) nor a docker save archive (manifest.json)", p)
	}
	// tarball's Opener opens the whole archive; LoadManifest finds manifest.json in it.
	m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(p) })
	if err != nil {
		return nil, fmt.Errorf("manifest.json: %w", err)
	}
	var out []found
	for _, d := range m {
		f, err := dockerImage(t, d)
		if err != nil {
			return nil, fmt.Errorf("manifest.json: image %s: %w", d.Config, err)
		}
		out = append(out, f)
	}
	return out, nil
}

// dockerImage turns one manifest.json entry into an image with an OCI manifest of its
// own: layers left uncompressed keep their diff_id as digest (the unpack checks both),
// compressed ones are hashed once here.
func dockerImage(t *tarFile, d tarball.Descriptor) (found, error) {
	craw, err := t.read(d.Config, DefaultLimits.Blob)
	if err != nil {
		return found{}, err
	}
	cfg, err := v1.ParseConfigFile(bytes.NewReader(craw))
	if err != nil {
		return found{}, fmt.Errorf("config: %w", err)
	}
	if len(d.Layers) != len(cfg.RootFS.DiffIDs) || len(d.LayerSources) > 0 {
		return found{}, fmt.Errorf("%d layer files for %d diff_ids (foreign layers are not supported)", len(d.Layers), len(cfg.RootFS.DiffIDs))
	}
	cd, _, _ := v1.SHA256(bytes.NewReader(craw))
	m := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1,
		Config: v1.Descriptor{MediaType: types.OCIConfigJSON, Size: int64(len(craw)), Digest: cd}}
	img := &archiveImage{t: t, craw: craw, layers: map[v1.Hash]*archiveLayer{}}
	for i, lp := range d.Layers {
		r, err := t.open(lp)
		if err != nil {
			return found{}, err
		}
		l := &archiveLayer{t: t, path: lp, size: r.Size(), digest: cfg.RootFS.DiffIDs[i], mt: types.OCIUncompressedLayer}
		var magic [4]byte
		r.ReadAt(magic[:], 0)
		if bytes.HasPrefix(magic[:], magicGzip) || bytes.HasPrefix(magic[:], magicZstd) {
			l.mt = types.OCILayer
			if bytes.HasPrefix(magic[:], magicZstd) {
				l.mt = types.OCILayerZStd
			}
			if l.digest, _, err = v1.SHA256(io.NewSectionReader(r, 0, r.Size())); err != nil {
				return found{}, err
			}
		}
		img.layers[l.digest] = l
		m.Layers = append(m.Layers, v1.Descriptor{MediaType: l.mt, Size: l.size, Digest: l.digest})
	}
	if img.raw, err = json.Marshal(m); err != nil {
		return found{}, err
	}
	f := found{}
	if f.img, err = partial.CompressedToImage(img); err != nil {
		return found{}, err
	}
	for _, tag := range d.RepoTags {
		n, err := name.NewTag(tag)
		if err != nil {
			return found{}, fmt.Errorf("RepoTags: %w", err)
		}
		f.names = append(f.names, n.Name())
	}
	return f, nil
}

type archiveImage struct {
	t         *tarFile
	raw, craw []byte
	layers    map[v1.Hash]*archiveLayer
}

func (i *archiveImage) RawConfigFile() ([]byte, error)      { return i.craw, nil }
func (i *archiveImage) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
func (i *archiveImage) RawManifest() ([]byte, error)        { return i.raw, nil }
func (i *archiveImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if l, ok := i.layers[h]; ok {
		return l, nil
	}
	return nil, fmt.Errorf("no layer %s in the archive", h)
}

// archiveLayer is one layer file of a tarball; its bytes are verified while unpacking.
type archiveLayer struct {
	t      *tarFile
	path   string
	size   int64
	digest v1.Hash
	mt     types.MediaType
}

func (l *archiveLayer) Digest() (v1.Hash, error)            { return l.digest, nil }
func (l *archiveLayer) Size() (int64, error)                { return l.size, nil }
func (l *archiveLayer) MediaType() (types.MediaType, error) { return l.mt, nil }
func (l *archiveLayer) Compressed() (io.ReadCloser, error) {
	r, err := l.t.open(l.path)
	return io.NopCloser(r), err
}

// tarIndex is an OCI layout inside a tar, as a v1.ImageIndex over its blobs/ members.
type tarIndex struct {
	t   *tarFile
	raw []byte
}

func (x *tarIndex) MediaType() (types.MediaType, error) { return types.OCIImageIndex, nil }
func (x *tarIndex) Digest() (v1.Hash, error) {
	h, _, err := v1.SHA256(bytes.NewReader(x.raw))
	return h, err
}
func (x *tarIndex) Size() (int64, error)         { return int64(len(x.raw)), nil }
func (x *tarIndex) RawManifest() ([]byte, error) { return x.raw, nil }
func (x *tarIndex) IndexManifest() (*v1.IndexManifest, error) {
	return v1.ParseIndexManifest(bytes.NewReader(x.raw))
}

func (x *tarIndex) Image(h v1.Hash) (v1.Image, error) {
	raw, err := x.blob(h)
	if err != nil {
		return nil, err
	}
	return partial.CompressedToImage(&tarImage{x: x, raw: raw})
}

func (x *tarIndex) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	raw, err := x.blob(h)
	if err != nil {
		return nil, err
	}
	return &tarIndex{t: x.t, raw: raw}, nil
}

// blob reads a small blob and checks its digest.
func (x *tarIndex) blob(h v1.Hash) ([]byte, error) {
	b, err := x.t.read("blobs/"+h.Algorithm+"/"+h.Hex, DefaultLimits.Blob)
	if err != nil {
		return nil, err
	}
	if got, _, _ := v1.SHA256(bytes.NewReader(b)); got != h {
		return nil, fmt.Errorf("blob %s hashes to %s", h, got)
	}
	return b, nil
}

type tarImage struct {
	x   *tarIndex
	raw []byte
}

func (i *tarImage) RawManifest() ([]byte, error) { return i.raw, nil }
func (i *tarImage) MediaType() (types.MediaType, error) {
	m, err := v1.ParseManifest(bytes.NewReader(i.raw))
	if err != nil {
		return "", err
	}
	return m.MediaType, nil
}

func (i *tarImage) RawConfigFile() ([]byte, error) {
	m, err := v1.ParseManifest(bytes.NewReader(i.raw))
	if err != nil {
		return nil, err
	}
	return i.x.blob(m.Config.Digest)
}

func (i *tarImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	m, err := v1.ParseManifest(bytes.NewReader(i.raw))
	if err != nil {
		return nil, err
	}
	for _, l := range m.Layers {
		if l.Digest == h {
			return &archiveLayer{t: i.x.t, path: "blobs/" + h.Algorithm + "/" + h.Hex, size: l.Size, digest: h, mt: l.MediaType}, nil
		}
	}
	return nil, fmt.Errorf("no layer %s in the manifest", h)
}
