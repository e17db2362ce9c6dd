package image

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// platform is the one a pull picks from a multi-platform index.
var platform = v1.Platform{OS: "linux", Architecture: runtime.GOARCH}

// Pull brings the image REF names into the store and records it under that name:
// from a registry (the tag moves to what the registry says now), an OCI layout
// (oci:PATH[:TAG]) or a docker-save archive (docker-archive:PATH). A nil Progress is quiet.
func (s *Store) Pull(ctx context.Context, ref string, p Progress) (Record, error) {
	if p == nil {
		p = noProgress{}
	}
	r, err := ParseRef(ref)
	if err != nil {
		return Record{}, err
	}
	var f found
	switch r.Kind {
	case Registry:
		f, err = s.remoteImage(ctx, r)
	case OCILayout:
		f, err = layoutImage(r)
	case DockerArchive:
		var fs []found
		if fs, err = openArchive(r.Path); err == nil {
			if len(fs) != 1 {
				err = fmt.Errorf("%s holds %d images; use confine load", r.Path, len(fs))
			} else {
				f = fs[0]
			}
		}
	}
	if err != nil {
		return Record{}, fmt.Errorf("pull %s: %w", ref, err)
	}
	f.names = []string{r.String()}
	rec, err := s.ingest(ctx, f, p)
	if err != nil {
		return Record{}, fmt.Errorf("pull %s: %w", ref, err)
	}
	rec.Name = r.String()
	return rec, nil
}

// Load brings every image of FILE (a docker-save tarball, an OCI tarball or an OCI
// layout directory) into the store, named by RepoTags or the ref.name annotation.
func (s *Store) Load(ctx context.Context, file string, p Progress) ([]Record, error) {
	if p == nil {
		p = noProgress{}
	}
	var fs []found
	st, err := os.Stat(file)
	switch {
	case err != nil:
	case st.IsDir():
		fs, err = layoutImages(file, "")
	default:
		fs, err = openArchive(file)
	}
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", file, err)
	}
	var out []Record
	for _, f := range fs {
		rec, err := s.ingest(ctx, f, p)
		if err != nil {
			return out, fmt.Errorf("load %s: %w", file, err)
		}
		if len(f.names) == 0 {
			out = append(out, rec)
		}
		for _, n := range f.names {
			rec.Name = n
			out = append(out, rec)
		}
	}
	return out, nil
}

func (s *Store) remoteImage(ctx context.Context, r Ref) (found, error) {
	desc, err := remote.Get(r.Name, remote.WithContext(ctx), remote.WithPlatform(platform),
		remote.WithAuthFromKeychain(s.Keychain), remote.WithTransport(tlsOnly{s.Transport}))
	if err != nil {
		return found{}, err
	}
	if d, ok := r.Name.(name.Digest); ok && desc.Digest.String() != d.DigestStr() {
		// remote checks this too; a digest reference is the whole point of pinning.
		return found{}, fmt.Errorf("the registry served %s for %s", desc.Digest, d.DigestStr())
	}
	if !desc.MediaType.IsIndex() {
		img, err := desc.Image()
		return found{img: img}, err
	}
	ii, err := desc.ImageIndex()
	if err != nil {
		return found{}, err
	}
	img, err := platformImage(ii)
	return found{img: img}, err
}

// layoutImage picks one image of an OCI layout: the one whose ref.name is TAG, or the
// only one.
func layoutImage(r Ref) (found, error) {
	fs, err := layoutImages(r.Path, r.Tag)
	if err != nil {
		return found{}, err
	}
	if len(fs) != 1 {
		return found{}, fmt.Errorf("%s holds %d images; name one with oci:PATH:TAG", r.Path, len(fs))
	}
	return fs[0], nil
}

func layoutImages(dir, tag string) ([]found, error) {
	ii, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, err
	}
	return indexImages(ii, tag)
}

// refNameKeys name an image in an index: containerd's full name first, then OCI's
// ref.name (which is often a tag alone, and is then no name confine can record).
var refNameKeys = []string{"io.containerd.image.name", refNameAnnotation}

func indexImages(ii v1.ImageIndex, tag string) ([]found, error) {
	im, err := ii.IndexManifest()
	if err != nil {
		return nil, err
	}
	var out []found
	for _, d := range im.Manifests {
		ref := d.Annotations[refNameAnnotation]
		if tag != "" && ref != tag {
			continue
		}
		img, err := pickImage(ii, d)
		if errors.Is(err, errNoPlatform) {
			continue
		}
		if err != nil {
			return nil, err
		}
		f := found{img: img}
		for _, k := range refNameKeys {
			if n, err := name.NewTag(d.Annotations[k], name.StrictValidation); err == nil {
				f.names = []string{n.Name()}
				break
			}
		}
		out = append(out, f)
	}
	if len(out) == 0 && tag != "" {
		return nil, fmt.Errorf("no image has ref.name %q", tag)
	}
	return out, nil
}

var errNoPlatform = errors.New("no image for this platform")

// pickImage returns the image a descriptor names, choosing linux/GOARCH in a nested index.
func pickImage(ii v1.ImageIndex, d v1.Descriptor) (v1.Image, error) {
	if !d.MediaType.IsIndex() {
		if d.Platform != nil && !d.Platform.Satisfies(platform) {
			return nil, errNoPlatform
		}
		return ii.Image(d.Digest)
	}
	child, err := ii.ImageIndex(d.Digest)
	if err != nil {
		return nil, err
	}
	return platformImage(child)
}

// platformImage is the image of a multi-platform index for linux/GOARCH.
func platformImage(ii v1.ImageIndex) (v1.Image, error) {
	im, err := ii.IndexManifest()
	if err != nil {
		return nil, err
	}
	for _, c := range im.Manifests {
		if c.MediaType.IsImage() && (c.Platform == nil || c.Platform.Satisfies(platform)) {
			return ii.Image(c.Digest)
		}
	}
	return nil, errNoPlatform
}

const refNameAnnotation = "org.opencontainers.image.ref.name"
