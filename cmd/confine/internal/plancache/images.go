package plancache

import (
	"crypto/sha256"
	"sync"
)

// An image's facts come from the host's image store, which no file of a key covers. A
// Plan whose compile resolved run.image is kept with, for each image, the store (its
// absolute directory), the reference and the manifest digest the store gave, and is
// taken only while the store the command reads is that one and still records that
// digest for the reference: the manifest pins the config and the layers (content
// addressed), which are all compile reads of an image, and a start checks the Plan's
// pins against the store again (image.Store.RunImage). An image moved to a new digest,
// removed or in another store compiles again, as does every image of the slim binary.
// index is the SHA-256 of the store's index when the Plan was kept: the same bytes
// record the same digest, with no need to parse them.
type imageDep struct {
	store, ref, digest string
	index              [sha256.Size]byte
}

var (
	imagesOnce sync.Once
	imagesSet  = make(chan struct{})
	storeDir   func(flag string) string
	readIndex  func(dir string) []byte
	digestIn   func(dir string, index []byte, ref string) string
)

// SetImages gives Take the image store: dir(flag) is the absolute directory of the store
// a command reads with --store flag ("": none), index(dir) the bytes of that store's
// index as they are, digest(dir, index, ref) the manifest digest those bytes record for
// ref ("": none). Package main calls it from an init, with nils where it has no store (a
// Plan kept with images is then not taken); a Take of such a Plan waits for it. Only the
// first call counts.
func SetImages(dir func(flag string) string, index func(dir string) []byte, digest func(dir string, index []byte, ref string) string) {
	imagesOnce.Do(func() {
		storeDir, readIndex, digestIn = dir, index, digest
		close(imagesSet)
	})
}

func imagesKnown() bool {
	<-imagesSet
	return storeDir != nil && readIndex != nil && digestIn != nil
}

// Image notes that the compile resolved ref in the store at dir (absolute) to the
// manifest digest, with the store's index as it is now: a dir "" (a resolver that cannot
// say), or an index that records another digest already, keeps the Plan from being kept.
func (r *Recorder) Image(dir, ref, digest string) {
	d := imageDep{store: dir, ref: ref, digest: digest}
	if dir == "" || ref == "" || digest == "" || !imagesKnown() {
		r.failed = true
	} else if b := readIndex(dir); digestIn(dir, b, ref) != digest {
		r.failed = true
	} else {
		d.index = sha256.Sum256(b)
	}
	r.images = append(r.images, d)
}

// imagesAsThen reports whether the store c's command reads records each image of deps
// as it did when the Plan was kept.
func (c *Cache) imagesAsThen(deps []imageDep) bool {
	if len(deps) == 0 {
		return true
	}
	if c.StoreUnsure || !imagesKnown() {
		return false
	}
	here := storeDir(c.Store)
	for _, d := range deps {
		if here == "" || d.store != here {
			return false
		}
		b := readIndex(d.store)
		if sha256.Sum256(b) != d.index && digestIn(d.store, b, d.ref) != d.digest {
			return false
		}
	}
	return true
}
