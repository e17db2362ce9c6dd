package image

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Store is an image store on disk (docs/images.md draws its layout):
//
//	blobs/sha256/HEX            manifests and configs, verified
//	layers/sha256/DIFFID/root/  one unpacked layer (an overlay lowerdir); layer.json beside it
//	images.json                 image records: name → manifest digest
//	refs/ID                     manifest digests a run uses; prune keeps them
//	tmp/                        work of pulls in progress, each dir flocked by its pull
//
// A layer is renamed into layers/ only once complete and verified, so a path there is
// complete by construction; the loser of two concurrent pulls of a layer drops its copy.
type Store struct {
	Dir       string
	Limits    Limits
	Keychain  authn.Keychain    // registry credentials; authn.DefaultKeychain (the Docker config)
	Transport http.RoundTripper // under tlsOnly; remote.DefaultTransport
	Jobs      int               // layers fetched at once
}

// DefaultDir is /var/lib/confine for root, else $XDG_DATA_HOME/confine (~/.local/share/confine).
func DefaultDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/confine"
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "confine")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".local", "share", "confine")
}

// Open opens (creating it if need be) the store at dir.
func Open(dir string) (*Store, error) {
	for _, d := range []string{"", "blobs/sha256", "layers/sha256", "refs", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return nil, fmt.Errorf("image store: %w", err)
		}
	}
	return &Store{Dir: dir, Limits: DefaultLimits, Keychain: authn.DefaultKeychain,
		Transport: remote.DefaultTransport, Jobs: 3}, nil
}

// OpenExisting opens the store at dir as it is, making nothing: for readers that must
// leave the disk alone (a compile ahead of the command). A dir that is not a directory
// is an error.
func OpenExisting(dir string) (*Store, error) {
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		if err == nil {
			err = fmt.Errorf("%s is not a directory", dir)
		}
		return nil, fmt.Errorf("image store: %w", err)
	}
	return &Store{Dir: dir, Limits: DefaultLimits, Keychain: authn.DefaultKeychain,
		Transport: remote.DefaultTransport, Jobs: 3}, nil
}

func (s *Store) blobPath(h v1.Hash) string { return filepath.Join(s.Dir, "blobs", h.Algorithm, h.Hex) }
func (s *Store) layerPath(h v1.Hash) string {
	return filepath.Join(s.Dir, "layers", h.Algorithm, h.Hex)
}

// LayerDir is the unpacked tree of a layer, for an overlay lowerdir.
func (s *Store) LayerDir(diffID v1.Hash) string { return filepath.Join(s.layerPath(diffID), "root") }

func (s *Store) hasLayer(diffID v1.Hash) bool {
	_, err := os.Stat(filepath.Join(s.layerPath(diffID), "layer.json"))
	return err == nil
}

// readBlob reads a stored blob and checks it against its digest (the store is trusted
// no more than needed: a bit flip or an edit shows up as a mismatch).
func (s *Store) readBlob(h v1.Hash) ([]byte, error) {
	if h.Algorithm != "sha256" || len(h.Hex) != 64 {
		return nil, fmt.Errorf("unsupported digest %s", h)
	}
	b, err := os.ReadFile(s.blobPath(h))
	if err != nil {
		return nil, err
	}
	if got, _, _ := v1.SHA256(bytesReader(b)); got != h {
		return nil, fmt.Errorf("blob %s in the store is corrupt (it hashes to %s)", h, got)
	}
	return b, nil
}

// LayerInfo is what unpacking a layer recorded beside its tree (layer.json).
type LayerInfo struct {
	DiffID  string   `json:"diff_id"`
	Digest  string   `json:"digest"` // the compressed blob it was unpacked from
	Size    int64    `json:"size"`   // bytes of regular files
	Entries int      `json:"entries"`
	Xattr   string   `json:"overlay_xattr"` // "trusted" or "user": the prefix of overlay.opaque
	Notes   []string `json:"notes,omitempty"`
}

// Image is a stored image, ready for a run: everything the overlay root and the Plan need.
type Image struct {
	Digest       v1.Hash // manifest
	ConfigDigest v1.Hash
	Config       *v1.ConfigFile
	DiffIDs      []v1.Hash
	LayerDirs    []string // unpacked layers, bottom first (overlay's lowerdir= lists them top first)
	Layers       []LayerInfo
	Manifest     *v1.Manifest
}

// Image opens the image with manifest digest d; every layer must be in the store.
func (s *Store) Image(d v1.Hash) (*Image, error) {
	raw, err := s.readBlob(d)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", d, err)
	}
	m, err := v1.ParseManifest(bytesReader(raw))
	if err != nil {
		return nil, fmt.Errorf("image %s: manifest: %w", d, err)
	}
	craw, err := s.readBlob(m.Config.Digest)
	if err != nil {
		return nil, fmt.Errorf("image %s: config: %w", d, err)
	}
	cfg, err := v1.ParseConfigFile(bytesReader(craw))
	if err != nil {
		return nil, fmt.Errorf("image %s: config: %w", d, err)
	}
	img := &Image{Digest: d, ConfigDigest: m.Config.Digest, Config: cfg, DiffIDs: cfg.RootFS.DiffIDs, Manifest: m}
	for _, id := range img.DiffIDs {
		var li LayerInfo
		b, err := os.ReadFile(filepath.Join(s.layerPath(id), "layer.json"))
		if err == nil {
			err = json.Unmarshal(b, &li)
		}
		if err != nil {
			return nil, fmt.Errorf("image %s: layer %s is not in the store (pull it again): %w", d, id, err)
		}
		img.Layers = append(img.Layers, li)
		img.LayerDirs = append(img.LayerDirs, s.LayerDir(id))
	}
	return img, nil
}

// AddRef records that run id uses the images with these manifest digests: prune keeps
// them even after `image rm`. RemoveRef drops the record when the run is gone.
func (s *Store) AddRef(id string, digests ...v1.Hash) error {
	if !validID(id) {
		return fmt.Errorf("image store: bad reference id %q", id)
	}
	var ds []string
	for _, d := range digests {
		ds = append(ds, d.String())
	}
	b, _ := json.Marshal(ds)
	unlock, err := s.lock() // prune sweeps tmp/ under this lock
	if err != nil {
		return err
	}
	defer unlock()
	// Renamed whole, for prune to read, but not synced: no run outlives a crash, and
	// SweepRuns removes the reference of one that is gone. The sync was a journal
	// commit on every run's path.
	return writeRenamed(filepath.Join(s.Dir, "refs", id), b, filepath.Join(s.Dir, "tmp"), false)
}

// RemoveRef drops a run's reference; a missing one is not an error.
func (s *Store) RemoveRef(id string) error {
	if !validID(id) {
		return fmt.Errorf("image store: bad reference id %q", id)
	}
	if err := os.Remove(filepath.Join(s.Dir, "refs", id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

func validID(id string) bool {
	return id != "" && len(id) < 200 && !strings.ContainsAny(id, "/\x00") && id != "." && id != ".."
}

// writeAtomic writes a file through a synced temp file in tmpDir and a rename.
func writeAtomic(p string, b []byte, tmpDir string) error { return writeRenamed(p, b, tmpDir, true) }

// writeRenamed writes a file through a temp file in tmpDir, synced when sync is set,
// and a rename.
func writeRenamed(p string, b []byte, tmpDir string, sync bool) error {
	f, err := os.CreateTemp(tmpDir, "w-*")
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), p)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

func randHex() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// ImageByDigest is Image for a digest string (sha256:HEX), as records hold them.
func (s *Store) ImageByDigest(d string) (*Image, error) {
	h, err := v1.NewHash(d)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", d, err)
	}
	return s.Image(h)
}
