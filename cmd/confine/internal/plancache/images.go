package plancache

import "sync"

// An image's facts come from the host's image store, which no file of a key covers. A
// Plan whose compile resolved run.image is kept with, for each image, the store (its
// absolute directory), the reference and the manifest digest the store gave, and is
// taken only while the store the command reads is that one and still records that
// digest for the reference: the manifest pins the config and the layers (content
// addressed), which are all compile reads of an image, and a start checks the Plan's
// pins against the store again (image.Store.RunImage). An image moved to a new digest,
// removed or in another store compiles again, as does every image of the slim binary.
type imageDep struct{ store, ref, digest string }

var (
	imagesOnce sync.Once
	imagesSet  = make(chan struct{})
	storeDir   func(flag string) string
	recorded   func(dir, ref string) string
)

// SetImages gives Take the image store: dir(flag) is the absolute directory of the store
// a command reads with --store flag ("": none), digest(dir, ref) the manifest digest the
// store at dir records for ref now ("": none). Package main calls it from an init, nil
// and nil where it has no store (a Plan kept with images is then not taken); a Take of
// such a Plan waits for it. Only the first call counts.
func SetImages(dir func(flag string) string, digest func(dir, ref string) string) {
	imagesOnce.Do(func() {
		storeDir, recorded = dir, digest
		close(imagesSet)
	})
}

// Image notes that the compile resolved ref in the store at dir (absolute) to the
// manifest digest; a dir "" (a resolver that cannot say) keeps the Plan from being kept.
func (r *Recorder) Image(dir, ref, digest string) {
	if dir == "" || ref == "" || digest == "" {
		r.failed = true
	}
	r.images = append(r.images, imageDep{dir, ref, digest})
}

// imagesAsThen reports whether the store c's command reads records each image of deps
// as it did when the Plan was kept.
func (c *Cache) imagesAsThen(deps []imageDep) bool {
	if len(deps) == 0 {
		return true
	}
	<-imagesSet
	if storeDir == nil || recorded == nil || c.StoreUnsure {
		return false
	}
	here := storeDir(c.Store)
	for _, d := range deps {
		if here == "" || d.store != here || recorded(d.store, d.ref) != d.digest {
			return false
		}
	}
	return true
}
