// Package image is confine's image store: it pulls images from registries, loads OCI
// layouts and docker-save archives, verifies every digest while streaming, and unpacks
// hostile layers safely, once per diff_id, for the overlay root of a run. An image is
// untrusted input like a policy: it supplies files and defaults, never privilege.
package image

import (
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
)

// Kind says where a reference points.
type Kind int

const (
	Registry      Kind = iota // NAME[:TAG][@sha256:…]
	OCILayout                 // oci:PATH[:TAG]
	DockerArchive             // docker-archive:PATH
)

// Ref is a parsed image reference.
type Ref struct {
	Kind Kind
	Name name.Reference // Registry: the tag or digest (the digest wins when both are given)
	Path string         // OCILayout, DockerArchive: the path as given
	Tag  string         // OCILayout: the ref.name annotation to select, or ""
}

// tagRe is a Docker tag: what may follow the last colon of an oci: path.
var tagRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`) })

// ParseRef parses NAME[:TAG][@sha256:…], oci:PATH[:TAG] or docker-archive:PATH. A
// registry reference is fully qualified (alpine → index.docker.io/library/alpine:latest);
// only a loopback registry may be reached over plain HTTP, as Docker does.
func ParseRef(s string) (Ref, error) {
	switch {
	case strings.HasPrefix(s, "oci:"):
		p, tag := splitTag(strings.TrimPrefix(s, "oci:"))
		if p == "" {
			return Ref{}, fmt.Errorf("image reference %q: oci: needs a path", s)
		}
		return Ref{Kind: OCILayout, Path: p, Tag: tag}, nil
	case strings.HasPrefix(s, "docker-archive:"):
		p := strings.TrimPrefix(s, "docker-archive:")
		if p == "" {
			return Ref{}, fmt.Errorf("image reference %q: docker-archive: needs a path", s)
		}
		return Ref{Kind: DockerArchive, Path: p}, nil
	}
	// With both a tag and a digest, the digest wins: drop the tag before parsing.
	if i := strings.Index(s, "@"); i >= 0 {
		repo := s[:i]
		if j := strings.LastIndex(repo, ":"); j > strings.LastIndex(repo, "/") {
			s = repo[:j] + s[i:]
		}
	}
	r, err := name.ParseReference(s)
	if err != nil {
		return Ref{}, fmt.Errorf("image reference %q: %w", s, err)
	}
	if IsLoopback(r.Context().RegistryStr()) {
		if r, err = name.ParseReference(s, name.Insecure); err != nil {
			return Ref{}, fmt.Errorf("image reference %q: %w", s, err)
		}
	}
	return Ref{Kind: Registry, Name: r}, nil
}

// String is the reference as the store names it.
func (r Ref) String() string {
	switch r.Kind {
	case OCILayout:
		p := absPath(r.Path)
		if r.Tag != "" {
			return "oci:" + p + ":" + r.Tag
		}
		return "oci:" + p
	case DockerArchive:
		return "docker-archive:" + absPath(r.Path)
	}
	return r.Name.Name()
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// splitTag splits PATH:TAG at the last colon when what follows is a tag (no slash).
func splitTag(s string) (string, string) {
	i := strings.LastIndex(s, ":")
	if i < 0 || !tagRe().MatchString(s[i+1:]) {
		return s, ""
	}
	return s[:i], s[i+1:]
}

// IsLoopback reports whether a registry host[:port] is this machine's loopback:
// localhost, 127.0.0.0/8 or ::1. Only those may be reached over plain HTTP.
func IsLoopback(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// digestOf is the digest a registry reference pins, if it pins one.
func digestOf(r Ref) (string, bool) {
	if d, ok := r.Name.(name.Digest); ok && r.Kind == Registry {
		return d.DigestStr(), true
	}
	return "", false
}
