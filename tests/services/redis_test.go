//go:build linux

package services_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func itoa(n int) string { return strconv.Itoa(n) }

// TestRedis: Debian's redis-server with its packaged redis.conf (readable only by the
// redis user and group, read idmapped) answers redis-cli through the published port,
// as the host's redis user, and saves into its bound data directory; an undeclared
// port is dropped.
func TestRedis(t *testing.T) {
	require(t, "redis-server", "redis-cli")
	dir := workDir(t)
	uid, gid := ids(t, "redis")
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o750); err != nil {
		t.Fatal(err)
	}
	u, _ := strconv.Atoi(uid)
	g, _ := strconv.Atoi(gid)
	if err := os.Chown(data, u, g); err != nil {
		t.Fatal(err)
	}
	s := copyExample(t, dir, "redis", "cache.yaml")
	if out := confine(t, "explain", filepath.Join(dir, "stack.yaml")); !strings.Contains(out, "as user redis (its uid and primary gid from the sandbox's /etc/passwd when it starts)") {
		t.Errorf("explain does not name the user:\n%s", out)
	}
	s.up(t, "cache")
	if got, want := s.status(t).User, "redis "+uid+":"+gid; got != want {
		t.Errorf("ps: user %q, want %q (run.user's name, resolved)", got, want)
	}

	cli := func(args ...string) string {
		t.Helper()
		out, err := run(t, nil, "redis-cli", append([]string{"-h", "127.0.0.1", "-p", itoa(s.port)}, args...)...)
		if err != nil {
			t.Fatalf("redis-cli %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(out)
	}
	if got := cli("SET", "confined", "yes"); got != "OK" {
		t.Fatalf("SET: %q", got)
	}
	if got := cli("GET", "confined"); got != "yes" {
		t.Fatalf("GET: %q", got)
	}
	if got := cli("SAVE"); got != "OK" {
		t.Fatalf("SAVE: %q", got)
	}
	if got := owner(t, filepath.Join(data, "dump.rdb")); got != uid {
		t.Errorf("dump.rdb is owned by host uid %s, want redis's %s", got, uid)
	}
	s.refusedFromBridge(t, 6379, 6380)
}
