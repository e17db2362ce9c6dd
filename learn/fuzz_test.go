package learn

import (
	"encoding/json"
	"testing"

	"github.com/confine-sandbox/confine/audit"
)

// FuzzSynthesize feeds hostile denial details (any JSON) and an old policy (any bytes):
// Synthesize may refuse them, never panic, and what it returns passes confine check.
func FuzzSynthesize(f *testing.F) {
	f.Add([]byte(`{"layer":"seccomp","syscall":"socket","args":[2,1,0,0,0,0],"enforced":false,"count":3}`), []byte(nil))
	f.Add([]byte(`{"layer":"filesystem","path":"/a/b","access":"create","enforced":false}`), []byte("version: 1\nname: x\nrun: {command: [/x]}\nsyscalls: {extends: learned, allow: [read]}\n"))
	f.Add([]byte(`{"layer":"network","direction":"connect","proto":"tcp","dst":"::1","dport":443,"enforced":false}`), []byte("{"))
	f.Add([]byte(`{"layer":"capability","capability":"cap_chown","enforced":false,"count":1e300}`), []byte("version: 1\nfilesystem: {read: [/]}\n"))
	f.Add([]byte(`{"layer":"filesystem","path":"/","access":"list","enforced":false}`), []byte(nil))
	f.Add([]byte(`{"layer":"network","direction":"bind","proto":"udp","dport":65535,"enforced":false}`), []byte(nil))
	run, err := RunPolicy(RunSpec{Command: []string{"/bin/x"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, details, old []byte) {
		var d map[string]any
		if json.Unmarshal(details, &d) != nil {
			return
		}
		recs := []audit.Record{{Kind: audit.KindStart, Component: "x"}, {Kind: audit.KindDenial, Component: "x", Details: d},
			{Kind: audit.KindDenial, Component: "x", Details: map[string]any{"layer": "seccomp", "syscall": "read", "enforced": false}}}
		in := Input{Run: run, RunName: "run.yaml", Seen: Observe(recs)}
		if len(old) > 0 {
			in.Old, in.OldName = old, "old.yaml"
		}
		out, err := Synthesize(in)
		if err != nil && out != nil {
			t.Fatalf("the output does not pass confine check: %v\n%s", err, out)
		}
	})
}
