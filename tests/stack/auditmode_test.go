//go:build linux

package stack_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/confine-sandbox/confine/audit"
	"github.com/confine-sandbox/confine/learn"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// TestAuditModeStack: two components of a stack in mode: audit. web calls api on a port
// neither declares (across both firewalls and the bridge), writes where Landlock grants
// only reads and makes a syscall the default profile leaves out; api serves that port.
// All of it succeeds, and each is in the log, not enforced, at its layer; ps and the
// report show the mode. The same stack under enforce refuses every one.
func TestAuditModeStack(t *testing.T) {
	testenv.Require(t, testenv.Root, testenv.Nftables)
	for i, mode := range []string{"audit", "enforce"} {
		t.Run(mode, func(t *testing.T) {
			stack := testenv.StackName("auditmode" + mode[:1])
			subnet := []string{"10.121.0.0/24", "10.122.0.0/24"}[i]
			api := []string{"10.121.0.3", "10.122.0.3"}[i]
			dir := t.TempDir()
			log := filepath.Join(dir, "audit.log")
			forbidden := []string{"dial:tcp/" + api + ":9099", "write:/proc/self/comm", "syscall:272"}
			component(t, dir, "web", "mode: "+mode, append(append([]string{"pause:1s"}, forbidden...), "sleep:")...)
			component(t, dir, "api", "mode: "+mode, "serve:tcp/9099", "sleep:")
			upStack(t, dir, stack, subnet, []string{"web", "api"}, "", "--audit-log", log)
			res := results(t, stack, "web", "syscall:272")
			for _, p := range forbidden {
				if res[p].OK != (mode == "audit") {
					t.Errorf("web %s under %s: %+v", p, mode, res[p])
				}
			}
			if got := status(t, stack)["web"].Mode; got != mode {
				t.Errorf("ps shows mode %q, want %q", got, mode)
			}
			if mode == "audit" {
				checkAuditStack(t, dir, log)
			}
		})
	}
}

func checkAuditStack(t *testing.T, dir, log string) {
	t.Helper()
	want := map[string]func(c string, d map[string]any) bool{
		"web's egress": func(c string, d map[string]any) bool {
			return c == "web" && d["mechanism"] == "nftables" && d["direction"] == "connect" && num(d["dport"]) == 9099 && d["peer"] == "api"
		},
		"api's ingress": func(c string, d map[string]any) bool {
			return c == "api" && d["mechanism"] == "nftables" && d["direction"] == "receive" && num(d["dport"]) == 9099
		},
		"web's connect": func(c string, d map[string]any) bool {
			return c == "web" && d["mechanism"] == "landlock" && d["direction"] == "connect" && num(d["dport"]) == 9099 && d["peer"] == "api"
		},
		"api's bind": func(c string, d map[string]any) bool {
			return c == "api" && d["layer"] == "network" && d["direction"] == "bind" && num(d["dport"]) == 9099
		},
		"web's write": func(c string, d map[string]any) bool {
			return c == "web" && d["layer"] == "filesystem" && d["path"] == "/proc/self/comm" && d["access"] == "write"
		},
		"web's syscall": func(c string, d map[string]any) bool {
			return c == "web" && d["layer"] == "seccomp" && d["syscall"] == "unshare"
		},
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		records, err := audit.ReadLog(log)
		if err != nil {
			t.Fatal(err)
		}
		found := map[string]bool{}
		for _, r := range records {
			if r.Kind != audit.KindDenial {
				continue
			}
			if r.Details[audit.DetailEnforced] != false {
				t.Fatalf("an audit-mode denial says enforced: %s %v", r.Component, r.Details)
			}
			for name, match := range want {
				if match(r.Component, r.Details) {
					found[name] = true
				}
			}
		}
		var missing []string
		for name := range want {
			if !found[name] {
				missing = append(missing, name)
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			for _, r := range records {
				t.Logf("%s %s %v", r.Kind, r.Component, r.Details)
			}
			t.Fatalf("not in the log: %v", missing)
		}
		time.Sleep(200 * time.Millisecond)
	}
	checkLearnedPeer(t, log)
	out, err := exec.Command(bin, "audit", "report", filepath.Join(dir, "stack.yaml"), "--log", log).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "mode is audit: nothing is enforced") {
		t.Errorf("the report lacks the audit-mode finding: %v\n%s", err, out)
	}
}

func num(v any) float64 {
	if n, ok := v.(float64); ok {
		return n
	}
	return -1
}

// checkLearnedPeer: learning web from the stack's log (its records only) gives a connect
// to api by name, api:9099/tcp, not to api's address.
func checkLearnedPeer(t *testing.T, log string) {
	t.Helper()
	records, err := audit.ReadLog(log)
	if err != nil {
		t.Fatal(err)
	}
	var web []audit.Record
	for _, r := range records {
		if r.Component == "web" {
			web = append(web, r)
		}
	}
	seen := learn.Observe(web)
	if seen.Component != "web" || seen.Connect["api:9099/tcp"] == 0 {
		t.Errorf("learned from web's records: component %q, connect %v; want api:9099/tcp", seen.Component, seen.Connect)
	}
	for to := range seen.Connect {
		if strings.HasPrefix(to, "10.") {
			t.Errorf("learned a connect to an address, %s: %v", to, seen.Connect)
		}
	}
}
