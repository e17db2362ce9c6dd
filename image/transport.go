package image

import (
	"fmt"
	"net/http"
)

// tlsOnly refuses plain-HTTP requests to any host but loopback. go-containerregistry
// speaks HTTP to RFC 1918 and *.localhost registries by itself (name.Registry.Scheme);
// Docker allows that only for 127.0.0.0/8, and so does confine. Redirects and token
// realms pass through here too, so a registry cannot send a pull to plain HTTP elsewhere.
type tlsOnly struct{ next http.RoundTripper }

func (t tlsOnly) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "https" && !IsLoopback(req.URL.Host) {
		return nil, fmt.Errorf("refusing plain HTTP to %s: only a loopback registry may be reached without TLS", req.URL.Host)
	}
	return t.next.RoundTrip(req)
}
