//go:build linux

package services_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// pgVersion is the packaged PostgreSQL whose default cluster's configuration exists
// (/etc/postgresql/V/main), the one the example names as 15.
func pgVersion(t *testing.T) string {
	t.Helper()
	confs, _ := filepath.Glob("/etc/postgresql/*/main/postgresql.conf")
	for _, c := range confs {
		v := filepath.Base(filepath.Dir(filepath.Dir(c)))
		if _, err := os.Stat("/usr/lib/postgresql/" + v + "/bin/postgres"); err == nil {
			return v
		}
	}
	require(t, "postgresql-packaged-cluster") // fails under CI, skips elsewhere
	return ""
}

// TestPostgres: Debian's PostgreSQL with its packaged postgresql.conf (ssl = on, the
// snakeoil key 0640 root:ssl-cert reached through run.groups) answers psql over TLS
// through the published port, refuses a connection without TLS (the bound
// pg_hba.conf), cannot read a host file the policy does not list even as superuser,
// and its exec health check (pg_isready run inside the component) reports healthy.
func TestPostgres(t *testing.T) {
	require(t, "psql", "runuser")
	if _, err := os.Stat("/etc/ssl/private/ssl-cert-snakeoil.key"); err != nil {
		require(t, "ssl-cert-snakeoil")
	}
	v := pgVersion(t)
	dir := workDir(t)
	uid, gid := ids(t, "postgres")
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	u, _ := strconv.Atoi(uid)
	g, _ := strconv.Atoi(gid)
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("confined\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(data, u, g); err != nil {
		t.Fatal(err)
	}
	initdb := "/usr/lib/postgresql/" + v + "/bin/initdb"
	if out, err := run(t, nil, "runuser", "-u", "postgres", "--", initdb, "-D", data, "-U", "postgres", "--pwfile="+pw, "--auth-host=scram-sha-256"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	s := copyExample(t, dir, "postgres", "db.yaml", "/15/", "/"+v+"/")
	s.up(t, "db")
	if got, want := s.status(t).User, "postgres "+uid+":"+gid; got != want {
		t.Errorf("ps: user %q, want %q (run.user's name, resolved)", got, want)
	}

	psql := func(sslmode, query string) (string, error) {
		conn := "host=127.0.0.1 port=" + itoa(s.port) + " user=postgres dbname=postgres connect_timeout=10 sslmode=" + sslmode
		out, err := run(t, []string{"PGPASSWORD=confined"}, "psql", conn, "-Atc", query)
		return strings.TrimSpace(out), err
	}
	if out, err := psql("require", "select ssl from pg_stat_ssl where pid = pg_backend_pid()"); err != nil || out != "t" {
		t.Fatalf("psql over TLS: %v\n%s", err, out)
	}
	if out, err := psql("disable", "select 1"); err == nil || !strings.Contains(out, "no pg_hba.conf entry") {
		t.Errorf("psql without TLS: want refused by pg_hba.conf, got %v\n%s", err, out)
	}
	// The host's /etc/os-release is readable by anyone; the policy does not list it.
	if _, err := os.ReadFile("/etc/os-release"); err != nil {
		t.Fatal(err)
	}
	if out, err := psql("require", "select pg_read_file('/etc/os-release')"); err == nil || !strings.Contains(out, "could not open file") {
		t.Errorf("pg_read_file of an undeclared path: want refused, got %v\n%s", err, out)
	}
	s.refusedFromBridge(t, 5432, 5433)
}
