//go:build linux

package run_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/confine-sandbox/confine/audit"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// TestRunAuditLog: `confine run --audit-log FILE --show-denials` writes the supervisor's
// chained log for a lone run (the policy applied, the start and exit, every denial with
// what decided it, the short-lived children's too) and prints each denial with its reason
// on stderr; the allowed twin of each denial logs nothing.
func TestRunAuditLog(t *testing.T) {
	testenv.Require(t, testenv.Root)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	os.Mkdir(data, 0o777)
	os.Chown(data, 1000, 1000)
	probe := `"` + probeDir + `/probe"`
	// A name of its own: a concurrent run of one component would take another id range.
	src := "version: 1\nname: runaudit\nrun: {command: [" + probe + "], user: \"1000:1000\"}\n" +
		"filesystem: {read: [" + probeDir + "], write: [" + data + "]}\n" +
		"network: {connect: [{to: 127.0.0.1:8080/tcp}], listen: [{port: 8081/tcp, from: [127.0.0.1]}]}\nsyscalls: {extends: default}\n"
	file := filepath.Join(dir, "runaudit.yaml")
	os.WriteFile(file, []byte(src), 0o644)
	log := filepath.Join(dir, "audit", "run.log")
	cmd := exec.Command(confineBin, "run", "--audit-log", log, "--show-denials", file, "--",
		"connect:127.0.0.1:9", "mount:/tmp", "write:"+data+"/ok", "syscall:435", "children:1/nest:"+data+"/nested", "bind:8081", "children:5/connect:127.0.0.1:9,mount:/tmp")
	code, stderr := exitOf(cmd)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	for _, want := range []string{
		"denied: landlock connect 9/tcp: runaudit connects to port 9/tcp, which no network.connect or network.listen names (default deny)",
		"denied: seccomp syscall mount: runaudit calls mount, which syscalls.allow does not name (on_violation errno) (default deny)",
	} {
		if n := strings.Count(stderr, want); n != 6 {
			t.Errorf("stderr has %d of %q, want 6 (the run's and its 5 children's)\n%s", n, want, stderr)
		}
	}
	if !strings.Contains(stderr, "denied: seccomp syscall clone3: runaudit calls clone3, which syscalls.deny[0] (profiles/default.yaml:") ||
		!strings.Contains(stderr, "expected: the built-in profile refuses clone3") || !strings.Contains(stderr, "[expected]") {
		t.Errorf("stderr lacks the expected clone3 denial:\n%s", stderr)
	}
	if strings.Contains(stderr, data+"/ok") {
		t.Errorf("the allowed write was shown as denied:\n%s", stderr)
	}

	if out, err := exec.Command(confineBin, "audit", "verify", log).CombinedOutput(); err != nil {
		t.Errorf("audit verify: %v\n%s", err, out)
	}
	records, err := audit.ReadLog(log)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	denials := map[string]int{}
	domains := map[string]string{}
	for _, r := range records {
		kinds[r.Kind]++
		if r.Kind != audit.KindDenial {
			continue
		}
		// Refused by the default profile by design, expected: clone3 (435); the MPTCP
		// socket and the binds of port 0 on loopback that Go's net.Listen makes first.
		what := r.Details[audit.DetailWhat]
		expected := what == "syscall clone3" || what == "syscall socket" || what == "bind 0/tcp"
		if r.Component != "runaudit" || r.Details[audit.DetailEnforced] != true || r.Details[audit.DetailExpected] != expected {
			t.Errorf("denial: %s %v", r.Component, r.Details)
		}
		if dom, _ := r.Details["domain"].(string); dom != "" {
			domains[r.Details[audit.DetailWhat].(string)] = dom
		}
		n, _ := r.Details[audit.DetailCount].(float64)
		denials[r.Details[audit.DetailLayer].(string)+" "+r.Details[audit.DetailWhat].(string)] += int(n)
	}
	for _, k := range []string{audit.KindOpen, audit.KindPolicy, audit.KindStart, audit.KindExit, audit.KindClose} {
		if kinds[k] != 1 {
			t.Errorf("%d %s records, want 1", kinds[k], k)
		}
	}
	if denials["landlock connect 9/tcp"] != 6 || denials["seccomp syscall mount"] != 6 || denials["seccomp syscall clone3"] != 1 {
		t.Errorf("denials in the log: %v, want 6 connects, 6 mounts, 1 clone3", denials)
	}
	if denials["seccomp syscall socket"] < 1 || denials["landlock bind 0/tcp"] < 1 {
		t.Errorf("denials in the log: %v, want Go's MPTCP socket and bind of port 0 (go1.24+)", denials)
	}

	// A child that made a Landlock domain of its own, inside the sandbox's, which
	// allows the write: its denial has a new domain id, and is the component's.
	nested := "make_reg " + data
	if denials["landlock "+nested] != 1 || domains[nested] == "" || domains[nested] == domains["connect 9/tcp"] {
		t.Errorf("the nested domain's denial: %d, domain %q (the sandbox's %q)", denials["landlock "+nested], domains[nested], domains["connect 9/tcp"])
	}

	// --show-denials alone: no log, the same lines.
	code, stderr = exitOf(exec.Command(confineBin, "run", "--show-denials", file, "--", "mount:/tmp"))
	if code != 0 || !strings.Contains(stderr, "denied: seccomp syscall mount: runaudit calls mount") {
		t.Errorf("--show-denials alone: exit %d\n%s", code, stderr)
	}
}

// TestRunAuditLogRootless: without root a run cannot read the kernel's records (no
// CAP_AUDIT_READ) and has no host id range of its own; --audit-log and --show-denials
// still run it, say so on stderr and in the log's audit.open, and the log verifies.
func TestRunAuditLogRootless(t *testing.T) {
	testenv.Require(t, testenv.Root) // to become an unprivileged user for the test
	dir, err := os.MkdirTemp("", "confine-rootless-audit-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	logDir := filepath.Join(dir, "logs")
	os.Mkdir(logDir, 0o700)
	os.Chown(logDir, 1000, 1000)
	src := "version: 1\nname: rootlessaudit\nrun: {command: [\"" + probeDir + "/probe\", \"mount:/x\"], user: \"1000\"}\n" +
		"filesystem: {read: [" + probeDir + "]}\nsyscalls: {extends: default}\n"
	file := filepath.Join(dir, "p.yaml")
	os.WriteFile(file, []byte(src), 0o644)
	log := filepath.Join(logDir, "run.log")
	cmd := exec.Command(confineBin, "run", "--audit-log", log, "--show-denials", file)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 1000, Gid: 1000, NoSetGroups: true}}
	code, stderr := exitOf(cmd)
	if code != 0 || !strings.Contains(stderr, "seccomp and Landlock denials will not be shown") {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	records, err := audit.ReadLog(log)
	if err != nil {
		t.Fatal(err)
	}
	collectors, _ := records[0].Details["collectors"].(map[string]any)
	if kernel, _ := collectors["kernel"].(string); records[0].Kind != audit.KindOpen || !strings.HasPrefix(kernel, "unavailable: ") {
		t.Errorf("audit.open: %v", records[0])
	}
	if out, err := exec.Command(confineBin, "audit", "verify", log).CombinedOutput(); err != nil {
		t.Errorf("audit verify: %v\n%s", err, out)
	}
}
