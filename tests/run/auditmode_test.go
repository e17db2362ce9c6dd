//go:build linux

package run_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/confine-sandbox/confine/audit"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// auditProbes are a forbidden bind and connect (port 9099 is declared nowhere), a
// forbidden file write (Landlock grants /proc read only), a forbidden syscall (unshare,
// 272 on x86_64, which the default profile leaves out; with flags 0 it needs no
// privilege) and a chown of its own file to root (CAP_CHOWN, not declared). A bind
// below 1024 needs no capability in confine: ip_unprivileged_port_start is 0 in the
// component's namespace.
var auditProbes = []string{"serve:tcp/9099", "connect:127.0.0.1:9099", "write:/proc/self/comm", "syscall:272", "chown:/dev/shm/f@0:0"}

// TestAuditMode: under mode: audit every forbidden action succeeds and is in the log as a
// denial with enforced false, at the layer that would have refused it; the same policy
// under enforce refuses every one.
func TestAuditMode(t *testing.T) {
	testenv.Require(t, testenv.Root)
	for _, mode := range []string{"audit", "enforce"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			src := "version: 1\nname: auditmode-" + mode + "\nmode: " + mode + "\nrun: {command: [\"" + probeDir + "/probe\"], user: \"1000:1000\"}\n" +
				"filesystem: {read: [" + probeDir + "]}\nnetwork: {listen: [{port: 8081/tcp, from: [127.0.0.1]}]}\nsyscalls: {extends: default}\n"
			file := filepath.Join(dir, "p.yaml")
			os.WriteFile(file, []byte(src), 0o644)
			log := filepath.Join(dir, "run.log")
			// The allowed twin first: a write where the policy grants it (/dev/shm).
			cmd := exec.Command(confineBin, append([]string{"run", "--audit-log", log, file, "--", "write:/dev/shm/f"}, auditProbes...)...)
			var stdout bytes.Buffer
			cmd.Stdout = &stdout
			code, stderr := exitOf(cmd)
			if code != 0 {
				t.Fatalf("exit %d\n%s", code, stderr)
			}
			dec := json.NewDecoder(&stdout)
			var allowed result
			if err := dec.Decode(&allowed); err != nil || !allowed.OK {
				t.Fatalf("the allowed write under %s: %v %+v\n%s", mode, err, allowed, stderr)
			}
			for _, p := range auditProbes {
				var r result
				if err := dec.Decode(&r); err != nil {
					t.Fatalf("%s: %v\n%s", p, err, stderr)
				}
				if r.OK != (mode == "audit") {
					t.Errorf("%s under %s: ok %v (%s)", p, mode, r.OK, r.Err)
				}
			}
			records, err := audit.ReadLog(log)
			if err != nil {
				t.Fatal(err)
			}
			if mode == "audit" {
				checkAuditRecords(t, records)
			}
		})
	}
}

// checkAuditRecords finds each forbidden action's denial, not enforced, at its layer.
func checkAuditRecords(t *testing.T, records []audit.Record) {
	t.Helper()
	want := map[string]func(d map[string]any) bool{
		"connect 9099": func(d map[string]any) bool {
			return d["layer"] == "network" && d["direction"] == "connect" && num(d["dport"]) == 9099
		},
		"bind 9099": func(d map[string]any) bool {
			return d["layer"] == "network" && d["direction"] == "bind" && num(d["dport"]) == 9099
		},
		"write /proc/self/comm": func(d map[string]any) bool {
			return d["layer"] == "filesystem" && d["path"] == "/proc/self/comm" && d["access"] == "write"
		},
		"syscall unshare": func(d map[string]any) bool { return d["layer"] == "seccomp" && d["syscall"] == "unshare" },
		"CAP_CHOWN": func(d map[string]any) bool {
			return d["layer"] == "capability" && d["capability"] == "CAP_CHOWN" && strings.Contains(d["inferred_from"].(string), "/dev/shm/f to uid 0")
		},
	}
	found := map[string]bool{}
	started := false
	for _, r := range records {
		if r.Kind == audit.KindStart && r.Details["mode"] == "audit" {
			started = true
		}
		if r.Kind != audit.KindDenial {
			continue
		}
		if r.Details[audit.DetailEnforced] != false {
			t.Errorf("an audit-mode denial says enforced: %v", r.Details)
		}
		if r.Details["path"] == "/dev/shm/f" && r.Details["layer"] == "filesystem" {
			t.Errorf("the allowed write is in the log: %v", r.Details)
		}
		for name, match := range want {
			if match(r.Details) {
				found[name] = true
			}
		}
	}
	if !started {
		t.Errorf("no component.start with mode audit")
	}
	for name := range want {
		if !found[name] {
			t.Errorf("no denial for %s in the log", name)
		}
	}
	if t.Failed() {
		for _, r := range records {
			t.Logf("%s %v", r.Kind, r.Details)
		}
	}
}

func num(v any) float64 {
	switch n := v.(type) {
	case float64:
		return n
	case int:
		return float64(n)
	}
	return -1
}

// TestAuditModeRootless: without root, audit mode observes the same way (the supervisor
// owns the component's user namespace, so it may read its memory and /proc): a forbidden
// write and connect succeed and are logged, not enforced. The kernel's seccomp records
// need CAP_AUDIT_READ, which a user lacks: the run says so and goes on.
func TestAuditModeRootless(t *testing.T) {
	u := newTestUser(t)
	dir, err := os.MkdirTemp("", "confine-rootless-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o777)
	file := filepath.Join(dir, "p.yaml")
	os.WriteFile(file, []byte(probePolicy("mode: audit\n")), 0o644)
	log := filepath.Join(dir, "run.log")
	probes := []string{"serve:tcp/9099", "connect:127.0.0.1:9099", "write:/proc/self/comm"}
	cmd := exec.Command(confineBin, append([]string{"run", "--audit-log", log, file, "--"}, probes...)...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: u.uid, Gid: u.gid, NoSetGroups: true}}
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	code, stderr := exitOf(cmd)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	dec := json.NewDecoder(&stdout)
	for _, p := range probes {
		var r result
		if err := dec.Decode(&r); err != nil || !r.OK {
			t.Errorf("%s: %v %+v\n%s", p, err, r, stderr)
		}
	}
	records, err := audit.ReadLog(log)
	if err != nil {
		t.Fatal(err)
	}
	var connect, write bool
	for _, r := range records {
		d := r.Details
		if r.Kind != audit.KindDenial || d[audit.DetailEnforced] != false {
			continue
		}
		connect = connect || d["direction"] == "connect" && num(d["dport"]) == 9099
		write = write || d["layer"] == "filesystem" && d["path"] == "/proc/self/comm"
	}
	if !connect || !write {
		t.Errorf("connect logged %v, write logged %v", connect, write)
		for _, r := range records {
			t.Logf("%s %v", r.Kind, r.Details)
		}
	}
}
