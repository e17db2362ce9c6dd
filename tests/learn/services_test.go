//go:build linux

package learn_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// redisWorkload is what the client does, learning and again under the learned policy.
func redisWorkload(port int) string {
	cli := fmt.Sprintf("redis-cli -p %d", port)
	return fmt.Sprintf(`for i in $(seq 100); do %[1]s ping >/dev/null 2>&1 && break; sleep 0.1; done
%[1]s set k v && %[1]s get k && %[1]s incr n && %[1]s lpush l a b c && %[1]s lrange l 0 -1 && %[1]s del k`, cli)
}

// TestLearnRedis learns Debian's redis-server under redis-cli, runs it enforced under
// the learned policy (the workload meets only expected denials), and SAVE, never asked
// for while learning, is refused: its fsync and unlink were never seen.
func TestLearnRedis(t *testing.T) {
	require(t, "redis-server", "redis-cli")
	dir := workDir(t)
	uid, gid := ids(t, "redis")
	if out, err := sh(t, fmt.Sprintf("install -d -o %s -g %s %s/data", uid, gid, dir)); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	// What the operator decides: the service user, its configuration (2770 redis:redis,
	// read idmapped), its data directory, the port it serves.
	write(t, filepath.Join(dir, "base.yaml"), fmt.Sprintf(`version: 1
name: cache
extends: [service, host-runtime]
run:
  command: [/usr/bin/redis-server]
  user: "%s:%s"
filesystem:
  read: [{path: /etc/redis, idmap: true}]
  bind:
    - {source: ./data, target: /var/lib/redis, write: true}
network:
  listen:
    - {port: 6379/tcp, from: [host]}
`, uid, gid))
	learned := filepath.Join(dir, "cache.yaml")
	stderr := confine(t, "learn", "-o", learned, "--policy", filepath.Join(dir, "base.yaml"), "--audit-log", filepath.Join(dir, "learn.log"),
		"--workload", redisWorkload(6379), "--",
		"/usr/bin/redis-server", "/etc/redis/redis.conf", "--daemonize", "no", "--supervised", "no", "--bind", "0.0.0.0",
		"--protected-mode", "no", "--logfile", "", "--pidfile", "", "--save", "")
	t.Logf("learn: %s", stderr)
	confine(t, "check", learned)

	port, log := upStack(t, dir, "cache", learned, 6379)
	out, err := sh(t, redisWorkload(port))
	if err != nil || !strings.Contains(out, "v\n") || !strings.Contains(out, "c\nb\na\n") {
		t.Fatalf("the workload under the learned policy: %v\n%s", err, out)
	}
	time.Sleep(500 * time.Millisecond) // the kernel's last records of the workload arrive
	split := time.Now()
	save, _ := sh(t, fmt.Sprintf("redis-cli -p %d save", port))
	if !strings.Contains(save, "ERR") {
		t.Errorf("SAVE, never exercised while learning, worked under the learned policy: %q", save)
	}
	time.Sleep(300 * time.Millisecond)
	down(t, dir)
	before, after := denials(t, log, split)
	if len(before) > 0 {
		t.Errorf("the workload under the learned policy met denials that are not expected: %v", before)
	}
	if len(after) == 0 {
		t.Errorf("SAVE was refused but no denial was logged")
	}
	t.Logf("SAVE refused: %v", after)
	n, def := narrower(t, learned)
	t.Logf("syscalls allowed: learned %d, default profile %d", n, def)

}

// TestLearnNginx learns Debian's nginx serving a.html to curl, from a configuration of
// its own (port 8080, its logs and temp files in its work directory), runs it enforced:
// a.html is served with no denial at all, and b.html, which exists beside it but was
// never requested, is not (the learned policy reads a.html, not the directory).
func TestLearnNginx(t *testing.T) {
	require(t, "nginx", "curl")
	dir := workDir(t)
	for _, d := range []string{"www", "log", "tmp", "run"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o777); err != nil {
			t.Fatal(err)
		}
		os.Chmod(filepath.Join(dir, d), 0o777) // written by the component's nobody
	}
	os.Chmod(filepath.Join(dir, "www"), 0o755)
	write(t, filepath.Join(dir, "www/a.html"), "A-page\n")
	write(t, filepath.Join(dir, "www/b.html"), "B-page\n")
	write(t, filepath.Join(dir, "nginx.conf"), fmt.Sprintf(`worker_processes 1;
error_log stderr;
pid %[1]s/run/nginx.pid;
events { worker_connections 64; }
http {
  access_log %[1]s/log/access.log;
  client_body_temp_path %[1]s/tmp/body;
  proxy_temp_path %[1]s/tmp/proxy;
  fastcgi_temp_path %[1]s/tmp/fastcgi;
  uwsgi_temp_path %[1]s/tmp/uwsgi;
  scgi_temp_path %[1]s/tmp/scgi;
  server { listen 8080; root %[1]s/www; }
}
`, dir))
	// What the operator decides: where nginx may write. What it reads, the port and the
	// syscalls are learned.
	write(t, filepath.Join(dir, "base.yaml"), fmt.Sprintf(`version: 1
name: web
extends: [host-runtime]
run:
  command: [/usr/sbin/nginx]
filesystem:
  write: [%[1]s/log, %[1]s/tmp, %[1]s/run]
`, dir))
	learned := filepath.Join(dir, "web.yaml")
	curl := "curl -sS --retry 50 --retry-connrefused --retry-delay 0 --max-time 10 http://127.0.0.1:%d/a.html"
	stderr := confine(t, "learn", "-o", learned, "--policy", filepath.Join(dir, "base.yaml"), "--audit-log", filepath.Join(dir, "learn.log"),
		"--workload", fmt.Sprintf(curl, 8080), "--",
		"/usr/sbin/nginx", "-c", filepath.Join(dir, "nginx.conf"), "-e", "stderr", "-g", "daemon off;")
	t.Logf("learn: %s", stderr)
	confine(t, "check", learned)
	text, _ := os.ReadFile(learned)
	for _, want := range []string{filepath.Join(dir, "www/a.html"), "port: 8080/tcp"} {
		if !strings.Contains(string(text), want) {
			t.Errorf("the learned policy lacks %s:\n%s", want, text)
		}
	}

	port, log := upStack(t, dir, "web", learned, 8080)
	out, err := sh(t, fmt.Sprintf(curl, port))
	if err != nil || out != "A-page\n" {
		t.Fatalf("a.html under the learned policy: %v %q", err, out)
	}
	b, _ := sh(t, fmt.Sprintf("curl -sS -o /dev/null -w '%%{http_code}' --max-time 10 http://127.0.0.1:%d/b.html", port))
	if b != "404" {
		t.Errorf("b.html, never requested while learning: status %s, want 404 (not in the learned policy's view)", b)
	}
	down(t, dir)
	before, _ := denials(t, log, time.Now())
	if len(before) > 0 {
		t.Errorf("nginx under the learned policy met denials that are not expected: %v", before)
	}
	n, def := narrower(t, learned)
	t.Logf("syscalls allowed: learned %d, default profile %d", n, def)

	// A second workload, merged: b.html joins a.html, and nothing learned before is lost.
	merged := filepath.Join(dir, "web2.yaml")
	confine(t, "learn", "-o", merged, "--merge", learned, "--workload", strings.Replace(fmt.Sprintf(curl, 8080), "a.html", "b.html", 1))
	text, _ = os.ReadFile(merged)
	for _, want := range []string{filepath.Join(dir, "www/a.html"), filepath.Join(dir, "www/b.html"), "port: 8080/tcp", "epoll_wait"} {
		if !strings.Contains(string(text), want) {
			t.Errorf("the merged policy lacks %s:\n%s", want, text)
		}
	}
	confine(t, "check", merged)
}

// TestLearnPackagedNginx learns Debian's nginx with its packaged /etc/nginx unchanged
// (master as the component's root, workers as www-data), from a base that names only its
// two data directories: the paths it reads, port 80 and the capabilities it needed
// (chown of its temp directories, the drop to www-data) are learned, and under the
// learned policy it serves its default page with no denial.
func TestLearnPackagedNginx(t *testing.T) {
	require(t, "nginx", "curl")
	dir := workDir(t)
	for _, d := range []string{"data/log", "data/lib"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write(t, filepath.Join(dir, "base.yaml"), `version: 1
name: web
extends: [service, host-runtime]
run:
  command: [/usr/sbin/nginx, -g, "daemon off;"]
  user: "0"
filesystem:
  bind:
    - {source: ./data/log, target: /var/log/nginx, write: true}
    - {source: ./data/lib, target: /var/lib/nginx, write: true}
`)
	learned := filepath.Join(dir, "web.yaml")
	curl := "curl -sS -o /dev/null -w '%%{http_code}' --retry 50 --retry-connrefused --retry-delay 0 --max-time 10 http://127.0.0.1:%d/"
	confine(t, "learn", "-o", learned, "--policy", filepath.Join(dir, "base.yaml"), "--workload", fmt.Sprintf(curl, 80))
	text, _ := os.ReadFile(learned)
	for _, want := range []string{"- CHOWN", "- SETGID", "- SETUID", "/etc/nginx/nginx.conf", "/var/www/html/index.nginx-debian.html", "port: 80/tcp"} {
		if !strings.Contains(string(text), want) {
			t.Errorf("the learned policy lacks %s:\n%s", want, text)
		}
	}
	port, log := upStack(t, dir, "web", learned, 80)
	if out, err := sh(t, fmt.Sprintf(curl, port)); err != nil || out != "200" {
		t.Fatalf("the default page under the learned policy: %v %q", err, out)
	}
	down(t, dir)
	if before, _ := denials(t, log, time.Now()); len(before) > 0 {
		t.Errorf("nginx under the learned policy met denials that are not expected: %v", before)
	}
}
