package image

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestMain lets the test binary act as a pulling process that the tests can kill.
func TestMain(m *testing.M) {
	if ref := os.Getenv("IMAGE_TEST_PULL"); ref != "" {
		s, err := Open(os.Getenv("IMAGE_TEST_STORE"))
		if err == nil {
			_, err = s.Pull(context.Background(), ref, nil)
		}
		fmt.Println(err)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestKilledPull: a pulling process killed (SIGKILL) half-way through a layer leaves no
// layer in layers/ and no record, only a work dir under tmp/ that prune removes.
func TestKilledPull(t *testing.T) {
	half := make(chan struct{}, 1)
	release := make(chan struct{})
	defer close(release)
	var cutPath atomic.Value
	cutPath.Store("")
	host := newRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet || !cutting(r.URL.Path, cutPath.Load().(string)) {
				h.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			body := rec.Body.Bytes()
			w.Header().Set("Content-Length", fmt.Sprint(len(body)))
			w.Write(body[:len(body)/2])
			w.(http.Flusher).Flush()
			half <- struct{}{}
			<-release
		})
	})
	img := randomImage(t, 1)
	push(t, host+"/team/app:v1", img)
	ls, _ := img.Layers()
	d, _ := ls[0].Digest()
	diffID, _ := ls[0].DiffID()
	cutPath.Store("/blobs/" + d.String())

	s := newStore(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "IMAGE_TEST_PULL="+host+"/team/app:v1", "IMAGE_TEST_STORE="+s.Dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-half:
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		t.Fatal("the pull never reached the layer")
	}
	cmd.Process.Kill()
	cmd.Wait()

	if _, err := os.Stat(s.layerPath(diffID)); err == nil {
		t.Error("a killed pull left its layer in layers/")
	}
	if recs, _ := s.List(); len(recs) != 0 {
		t.Errorf("records after a killed pull: %+v", recs)
	}
	if es, _ := os.ReadDir(filepath.Join(s.Dir, "tmp")); len(es) == 0 {
		t.Error("no work dir left: the pull did not get as far as the test meant")
	}
	rep, err := s.Prune()
	if err != nil || rep.Work != 1 {
		t.Errorf("prune: %v %+v, want the killed pull's work dir removed", err, rep)
	}
	tmpEmpty(t, s)
	cutPath.Store("")
	if _, err := s.Pull(context.Background(), host+"/team/app:v1", nil); err != nil {
		t.Fatalf("the pull after: %v", err)
	}
}

func cutting(p, suffix string) bool { return suffix != "" && strings.HasSuffix(p, suffix) }

// TestPruneDuringPull: a prune while a pull is half-way through a layer keeps the pull's
// work and blobs (its pin), so the pull completes and its image is whole.
func TestPruneDuringPull(t *testing.T) {
	half := make(chan struct{}, 1)
	release := make(chan struct{})
	var cutPath atomic.Value
	cutPath.Store("")
	host := newRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet || !cutting(r.URL.Path, cutPath.Load().(string)) {
				h.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			body := rec.Body.Bytes()
			w.Header().Set("Content-Length", fmt.Sprint(len(body)))
			w.Write(body[:len(body)/2])
			w.(http.Flusher).Flush()
			half <- struct{}{}
			<-release
			w.Write(body[len(body)/2:])
		})
	})
	img := randomImage(t, 2)
	push(t, host+"/team/app:v1", img)
	ls, _ := img.Layers()
	d, _ := ls[1].Digest()
	cutPath.Store("/blobs/" + d.String())
	s := newStore(t)
	done := make(chan error, 1)
	go func() {
		_, err := s.Pull(context.Background(), host+"/team/app:v1", nil)
		done <- err
	}()
	select {
	case <-half:
	case <-time.After(time.Minute):
		t.Fatal("the pull never reached the layer")
	}
	// Layer 0 may already be in layers/, and the manifest and config in blobs/.
	rep, err := s.Prune()
	close(release)
	if err != nil || rep.Work != 0 || rep.Layers != 0 || rep.Blobs != 0 {
		t.Errorf("prune during a pull: %v %+v, want nothing of the pull removed", err, rep)
	}
	if err := <-done; err != nil {
		t.Fatalf("the pull: %v", err)
	}
	if _, err := s.Image(digestOfImage(t, img)); err != nil {
		t.Fatalf("the image after: %v", err)
	}
}
