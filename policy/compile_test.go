package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/confine-sandbox/confine/policy/plan"
)

func compileFile(t testing.TB, dir, name string) *plan.Plan {
	t.Helper()
	s, err := Open(os.DirFS(dir), name)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func planJSON(t testing.TB, p *plan.Plan) []byte {
	t.Helper()
	data, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(data, '\n')
}

// TestCompileGolden compares compiled Plans with testdata/*.plan.json
// (go test ./policy -update rewrites them; review the diff).
func TestCompileGolden(t *testing.T) {
	for golden, name := range map[string]string{
		"testdata/shop.plan.json": "shop/stack.yaml",
		"testdata/api.plan.json":  "shop/api.yaml",
	} {
		got := planJSON(t, compileFile(t, "../examples", name))
		if *update {
			if err := os.WriteFile(golden, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run go test ./policy -update)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from %s; run go test ./policy -update and review the diff", name, golden)
		}
	}
}

// TestCompileDeterministic compiles the same stack twice, from fresh loads, and needs
// byte-identical JSON: map iteration order must never reach the Plan.
func TestCompileDeterministic(t *testing.T) {
	a := planJSON(t, compileFile(t, "../examples", "shop/stack.yaml"))
	for i := 0; i < 5; i++ {
		if b := planJSON(t, compileFile(t, "../examples", "shop/stack.yaml")); !bytes.Equal(a, b) {
			t.Fatal("two compiles of the same stack differ")
		}
	}
}

func TestCompileShop(t *testing.T) {
	p := compileFile(t, "../examples", "shop/stack.yaml")
	byName := map[string]*plan.Component{}
	for i := range p.Components {
		byName[p.Components[i].Name] = &p.Components[i]
	}
	api, db := byName["api"], byName["db"]
	if api.Net.Address != "10.88.0.3" || p.Network.BridgeAddress != "10.88.0.1" {
		t.Errorf("addresses: api %s, bridge %s", api.Net.Address, p.Network.BridgeAddress)
	}
	if api.Process.Rootfs != "shop/rootfs/api" || api.Process.UID != 1000 {
		t.Errorf("process: %+v", api.Process)
	}
	if got := api.Landlock.BindTCP; len(got) != 1 || got[0] != 9000 {
		t.Errorf("api bind ports %v", got)
	}
	if db.Seccomp.DefaultAction != "kill_process" || db.Cgroup.MemoryMax != 512<<20 || db.Cgroup.CPUQuota != 150000 {
		t.Errorf("db: seccomp %s, cgroup %+v", db.Seccomp.DefaultAction, db.Cgroup)
	}
	var bridge []string
	for _, f := range p.Network.Firewall.Flows {
		bridge = append(bridge, f.Src+">"+f.Dst+":"+f.Proto)
	}
	want := []string{"10.88.0.1/32>10.88.0.2/32:tcp", "10.88.0.2/32>10.88.0.3/32:tcp", "10.88.0.3/32>10.88.0.4/32:tcp"}
	if len(bridge) != len(want) {
		t.Fatalf("bridge flows %v, want %v", bridge, want)
	}
	for i := range want {
		if bridge[i] != want[i] {
			t.Errorf("bridge flow %d: %s, want %s", i, bridge[i], want[i])
		}
	}
	if got := api.Capabilities.Bounding; len(got) != 0 {
		t.Errorf("api capabilities %v, want none", got)
	}
}

func TestCompileCapabilities(t *testing.T) {
	const src = `version: 1
name: t
run: {command: [/bin/true], user: "%s"}
filesystem: {read: [/bin]}
syscalls: {extends: default}
capabilities: [cap_net_bind_service, CHOWN]
`
	user := compileOne(t, fmt.Sprintf(src, "1000")).Capabilities
	if strings.Join(user.Bounding, ",") != "CHOWN,NET_BIND_SERVICE" || strings.Join(user.Ambient, ",") != "CHOWN,NET_BIND_SERVICE" {
		t.Errorf("uid 1000: %+v", user)
	}
	root := compileOne(t, fmt.Sprintf(src, "0")).Capabilities
	if strings.Join(root.Effective, ",") != "CHOWN,NET_BIND_SERVICE" || len(root.Ambient) != 0 {
		t.Errorf("uid 0: %+v", root)
	}
}
