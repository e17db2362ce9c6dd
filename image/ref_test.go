package image

import (
	"archive/tar"
	"net/http"
	"strings"
	"testing"
)

func TestParseRef(t *testing.T) {
	for _, c := range []struct {
		in, want, scheme string
		kind             Kind
	}{
		{"alpine", "index.docker.io/library/alpine:latest", "https", Registry},
		{"alpine:3.20", "index.docker.io/library/alpine:3.20", "https", Registry},
		{"alpine:3.20@sha256:" + strings.Repeat("a", 64), "index.docker.io/library/alpine@sha256:" + strings.Repeat("a", 64), "https", Registry},
		{"127.0.0.1:5000/x:y", "127.0.0.1:5000/x:y", "http", Registry},
		{"127.9.9.9:5000/x", "127.9.9.9:5000/x:latest", "http", Registry},
		{"localhost:5000/x", "localhost:5000/x:latest", "http", Registry},
		{"[::1]:5000/x", "[::1]:5000/x:latest", "http", Registry},
		{"registry.example:5000/x", "registry.example:5000/x:latest", "https", Registry},
		{"oci:/srv/img:1.0", "oci:/srv/img:1.0", "", OCILayout},
		{"oci:/srv/a:b/c", "oci:/srv/a:b/c", "", OCILayout},
		{"docker-archive:/srv/app.tar", "docker-archive:/srv/app.tar", "", DockerArchive},
	} {
		r, err := ParseRef(c.in)
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if r.Kind != c.kind || r.String() != c.want {
			t.Errorf("%s: kind %d %q, want %d %q", c.in, r.Kind, r.String(), c.kind, c.want)
		}
		if c.scheme != "" && r.Name.Context().Scheme() != c.scheme {
			t.Errorf("%s: scheme %s, want %s", c.in, r.Name.Context().Scheme(), c.scheme)
		}
	}
	for _, bad := range []string{"", "UPPER/case", "oci:", "docker-archive:", "a@sha256:short"} {
		if _, err := ParseRef(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// TestPlainHTTPOnlyToLoopback: go-containerregistry would speak HTTP to a 10.x
// registry; tlsOnly refuses before any byte is sent (the next transport never runs).
func TestPlainHTTPOnlyToLoopback(t *testing.T) {
	var called []string
	tr := tlsOnly{next: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		called = append(called, r.URL.String())
		return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
	})}
	for _, u := range []string{"http://10.1.2.3:5000/v2/", "http://192.168.1.1/v2/", "http://reg.localhost/v2/", "http://example.com/token"} {
		req, _ := http.NewRequest("GET", u, nil)
		if _, err := tr.RoundTrip(req); err == nil || !strings.Contains(err.Error(), "plain HTTP") {
			t.Errorf("%s: err = %v, want refused", u, err)
		}
	}
	for _, u := range []string{"http://127.0.0.1:5000/v2/", "http://localhost/v2/", "http://[::1]:80/v2/", "https://10.1.2.3/v2/"} {
		req, _ := http.NewRequest("GET", u, nil)
		if _, err := tr.RoundTrip(req); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	if len(called) != 4 {
		t.Errorf("the next transport ran for %v", called)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestCleanName(t *testing.T) {
	for in, want := range map[string]string{"./": "", ".": "", "./a/b/": "a/b", "a//b": "a/b", "a/./b": "a/b"} {
		if got, err := cleanName(in); err != nil || got != want {
			t.Errorf("%q: %q %v, want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "/etc/passwd", "../x", "a/../b", "a/..", "a\x00b", strings.Repeat("a", 5000)} {
		if _, err := cleanName(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestPlanEntry(t *testing.T) {
	for _, c := range []struct {
		h    tar.Header
		kind opKind
		name string
		mode uint32
	}{
		{tar.Header{Name: "a/.wh.b"}, opWhiteout, "a/b", 0},
		{tar.Header{Name: "a/.wh..wh..opq"}, opOpaque, "a", 0},
		{tar.Header{Name: ".wh..wh..opq"}, opOpaque, "", 0},
		{tar.Header{Name: "a/.wh..wh.plnk"}, opSkip, "a/.wh..wh.plnk", 0},
		{tar.Header{Name: "su", Mode: 0o4755, Typeflag: tar.TypeReg}, opFile, "su", 0o755},
		{tar.Header{Name: "d/", Mode: 0o3777, Typeflag: tar.TypeDir}, opDir, "d", 0o1777},
		{tar.Header{Name: "null", Typeflag: tar.TypeChar}, opSkip, "null", 0},
		{tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755}, opDir, "", 0o755},
	} {
		o, err := planEntry(&c.h)
		if err != nil || o.kind != c.kind || o.name != c.name || (c.mode != 0 && o.mode != c.mode) {
			t.Errorf("%q: %+v %v", c.h.Name, o, err)
		}
	}
	for _, h := range []tar.Header{
		{Name: ".", Typeflag: tar.TypeSymlink, Linkname: "/"},
		{Name: "x", Typeflag: tar.TypeLink, Linkname: "../y"},
		{Name: "x", Typeflag: tar.TypeLink, Linkname: "/y"},
		{Name: ".wh.x/y"},
		{Name: "a/.wh.."},
		{Name: "f", Typeflag: tar.TypeReg, Uid: 1 << 40},
		{Name: "f", Typeflag: tar.TypeReg, Gid: -1},
	} {
		if _, err := planEntry(&h); err == nil {
			t.Errorf("%+v accepted", h)
		}
	}
}

func TestKeepXattr(t *testing.T) {
	for k, want := range map[string]bool{"user.mime": true, "user.overlay.opaque": false, "trusted.overlay.opaque": false,
		"security.capability": false, "security.selinux": false, "system.posix_acl_access": true} {
		if keepXattr(k) != want {
			t.Errorf("keepXattr(%s) = %v", k, !want)
		}
	}
}
