package image

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// newRegistry serves go-containerregistry's registry on 127.0.0.1; wrap may stand
// between the client and it. It returns host:port.
func newRegistry(t testing.TB, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	var h http.Handler = registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func push(t testing.TB, ref string, img v1.Image, opts ...remote.Option) {
	t.Helper()
	if err := remote.Write(mustTag(t, ref), img, opts...); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
}

func randomImage(t testing.TB, layers int64) v1.Image {
	t.Helper()
	img, err := random.Image(1024, layers)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// TestPullByTagAndDigest: a pull by tag records the tag, a re-push moves it on the next
// pull, a pull by digest (even with a stale tag beside it) gets exactly that image.
func TestPullByTagAndDigest(t *testing.T) {
	host := newRegistry(t, nil)
	s := newStore(t)
	ctx := context.Background()
	img1, img2 := randomImage(t, 2), randomImage(t, 3)
	push(t, host+"/team/app:v1", img1)
	rec, err := s.Pull(ctx, host+"/team/app:v1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := digestOfImage(t, img1); rec.Digest != d.String() || rec.Name != host+"/team/app:v1" {
		t.Fatalf("record %+v, want %s", rec, d)
	}
	got, err := s.Image(mustHash(t, rec.Digest))
	if err != nil || len(got.LayerDirs) != 2 {
		t.Fatalf("Image: %v, %d layers", err, len(got.LayerDirs))
	}
	for _, d := range got.LayerDirs {
		if es, err := os.ReadDir(d); err != nil || len(es) == 0 {
			t.Errorf("layer dir %s: %v, %d entries", d, err, len(es))
		}
	}
	push(t, host+"/team/app:v1", img2)
	if rec, err = s.Pull(ctx, host+"/team/app:v1", nil); err != nil || rec.Digest != digestOfImage(t, img2).String() {
		t.Fatalf("re-pull: %v %+v: the tag did not move", err, rec)
	}
	if recs, _ := s.Lookup(host + "/team/app:v1"); len(recs) != 1 || recs[0].Digest != rec.Digest {
		t.Errorf("lookup after the tag moved: %+v", recs)
	}
	d1 := digestOfImage(t, img1)
	rec, err = s.Pull(ctx, host+"/team/app:v1@"+d1.String(), nil)
	if err != nil || rec.Digest != d1.String() {
		t.Fatalf("pull by digest with a stale tag: %v %+v; the digest must win", err, rec)
	}
	// A digest of a multi-platform index: the platform's image is pulled, and the
	// reference finds it again.
	idx, err := random.Index(512, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(mustTag(t, host+"/team/multi:v1"), idx); err != nil {
		t.Fatal(err)
	}
	id, _ := idx.Digest()
	ref := host + "/team/multi@" + id.String()
	if rec, err = s.Pull(ctx, ref, nil); err != nil {
		t.Fatalf("pull of an index digest: %v", err)
	}
	if recs, err := s.Lookup(ref); err != nil || recs[0].Digest != rec.Digest {
		t.Errorf("lookup of the index digest: %v %+v", err, recs)
	}
	tmpEmpty(t, s)
}

// TestPullWrongDigestRefused: a digest the registry does not hold is refused, and
// nothing is recorded.
func TestPullWrongDigestRefused(t *testing.T) {
	host := newRegistry(t, nil)
	push(t, host+"/team/app:v1", randomImage(t, 1))
	s := newStore(t)
	bad := "sha256:" + strings.Repeat("ab", 32)
	if _, err := s.Pull(context.Background(), host+"/team/app@"+bad, nil); err == nil {
		t.Fatal("a pull of a digest the registry lacks succeeded")
	}
	if recs, _ := s.List(); len(recs) != 0 {
		t.Errorf("records after a refused pull: %+v", recs)
	}
}

// TestPullWithAuth: a registry that wants basic auth gets the credentials of the
// Docker config (DOCKER_CONFIG), and refuses a pull without them.
func TestPullWithAuth(t *testing.T) {
	const user, pass = "ci", "s3cret"
	host := newRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	img := randomImage(t, 1)
	push(t, host+"/private/app:v1", img, remote.WithAuth(&authn.Basic{Username: user, Password: pass}))

	cfg := t.TempDir()
	t.Setenv("DOCKER_CONFIG", cfg)
	s := newStore(t)
	if _, err := s.Pull(context.Background(), host+"/private/app:v1", nil); err == nil {
		t.Fatal("a pull without credentials succeeded")
	}
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	os.WriteFile(filepath.Join(cfg, "config.json"), []byte(fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, host, auth)), 0o600)
	rec, err := s.Pull(context.Background(), host+"/private/app:v1", nil)
	if err != nil || rec.Digest != digestOfImage(t, img).String() {
		t.Fatalf("pull with the Docker config's credentials: %v", err)
	}
}

// TestConcurrentPulls: several pulls of one image at once all succeed and leave one
// copy of each layer and no work behind.
func TestConcurrentPulls(t *testing.T) {
	host := newRegistry(t, nil)
	img := randomImage(t, 3)
	push(t, host+"/team/app:v1", img)
	s := newStore(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.Pull(context.Background(), host+"/team/app:v1", nil)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("pull %d: %v", i, err)
		}
	}
	if es, _ := os.ReadDir(filepath.Join(s.Dir, "layers", "sha256")); len(es) != 3 {
		t.Errorf("layers/ holds %d layers, want 3", len(es))
	}
	if recs, _ := s.List(); len(recs) != 1 {
		t.Errorf("records: %+v", recs)
	}
	tmpEmpty(t, s)
}

// TestInterruptedPull: a registry that cuts a layer's stream half-way fails the pull,
// and no layer that looks complete is left; a later pull succeeds.
func TestInterruptedPull(t *testing.T) {
	var cut sync.Map // blob digests to cut
	host := newRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			i := strings.Index(r.URL.Path, "/blobs/sha256:")
			if i < 0 || r.Method != http.MethodGet {
				h.ServeHTTP(w, r)
				return
			}
			if _, ok := cut.Load(r.URL.Path[i+len("/blobs/"):]); !ok {
				h.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			body := rec.Body.Bytes()
			w.Header().Set("Content-Length", fmt.Sprint(len(body)))
			w.WriteHeader(http.StatusOK)
			w.Write(body[:len(body)/2])
			panic(http.ErrAbortHandler) // drop the connection mid-body
		})
	})
	img := randomImage(t, 2)
	push(t, host+"/team/app:v1", img)
	ls, _ := img.Layers()
	d, _ := ls[1].Digest()
	cut.Store(d.String(), true)
	s := newStore(t)
	s.Jobs = 1
	if _, err := s.Pull(context.Background(), host+"/team/app:v1", nil); err == nil {
		t.Fatal("a pull with a cut stream succeeded")
	}
	diffID, _ := ls[1].DiffID()
	if _, err := os.Stat(s.layerPath(diffID)); err == nil {
		t.Error("the cut layer is in layers/")
	}
	if recs, _ := s.List(); len(recs) != 0 {
		t.Errorf("records after a failed pull: %+v", recs)
	}
	tmpEmpty(t, s)
	cut.Delete(d.String())
	if _, err := s.Pull(context.Background(), host+"/team/app:v1", nil); err != nil {
		t.Fatalf("the pull after: %v", err)
	}
}
