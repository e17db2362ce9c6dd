//go:build linux

package services_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNginx: Debian's nginx with its packaged configuration ("user www-data;") serves
// its default page through the published port to curl; its workers run as www-data,
// whose temp directories it chowned on the host as www-data's own uid; a port the
// policy does not declare is dropped.
func TestNginx(t *testing.T) {
	require(t, "nginx", "curl")
	dir := workDir(t)
	for _, d := range []string{"data/log", "data/lib"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s := copyExample(t, dir, "nginx", "web.yaml")
	s.up(t, "web")

	out, err := run(t, nil, "curl", "-sS", "--max-time", "10", "http://127.0.0.1:"+itoa(s.port)+"/")
	if err != nil || !strings.Contains(out, "Welcome to nginx") {
		t.Fatalf("curl through the published port: %v\n%s", err, out)
	}
	uid, _ := ids(t, "www-data")
	if got := owner(t, filepath.Join(dir, "data/lib/body")); got != uid {
		t.Errorf("/var/lib/nginx/body is owned by host uid %s, want www-data's %s (nginx chowns it to its user)", got, uid)
	}
	access, _ := os.ReadFile(filepath.Join(dir, "data/log/access.log"))
	if !strings.Contains(string(access), "GET / HTTP/1.1\" 200") {
		t.Errorf("access.log has no request:\n%s", access)
	}
	s.refusedFromBridge(t, 80, 8080)
}
