//go:build linux

// Package nft_test loads compiled rulesets into the kernel with the nft tool, inside a
// network namespace each test makes and removes, so `compile --format nft` is known to load.
package nft_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/confine-sandbox/confine/netfilter"
	"github.com/confine-sandbox/confine/policy"
	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/tests/testenv"
)

var nsCount atomic.Int64

// netns makes a fresh network namespace and removes it when the test ends.
func netns(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("confine-test-%d-%d", os.Getpid(), nsCount.Add(1))
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	return name
}

func nft(t *testing.T, ns string, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", ns, "nft"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("nft %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func compile(t *testing.T, dir, name string) *plan.Plan {
	t.Helper()
	s, err := policy.Open(os.DirFS(dir), name)
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// checkAndLoad runs `nft -c -f`, then loads the script for real, twice (the script
// replaces its own table), and returns `nft list ruleset`.
func checkAndLoad(t *testing.T, fw plan.Firewall) string {
	t.Helper()
	ns := netns(t)
	file := filepath.Join(t.TempDir(), "ruleset.nft")
	if err := os.WriteFile(file, []byte(netfilter.Render(fw)), 0o600); err != nil {
		t.Fatal(err)
	}
	nft(t, ns, "-c", "-f", file)
	nft(t, ns, "-f", file)
	nft(t, ns, "-f", file)
	return nft(t, ns, "list", "ruleset")
}

func TestShopRulesetsLoad(t *testing.T) {
	testenv.Require(t, testenv.Root, testenv.IP, testenv.Nftables)
	p := compile(t, "../../examples", "shop/stack.yaml")
	got := checkAndLoad(t, p.Network.Firewall)
	for _, want := range []string{"table inet confine_shop", "10.88.0.3 . 10.88.0.2 . tcp . 9000", "policy drop", "log prefix \"confine-drop forward: \" group 7 drop"} {
		if !strings.Contains(got, want) {
			t.Errorf("bridge ruleset lacks %q:\n%s", want, got)
		}
	}
	for _, c := range p.Components {
		t.Run(c.Name, func(t *testing.T) {
			if got := checkAndLoad(t, c.Net.Firewall); strings.Count(got, "policy drop") != 2 {
				t.Errorf("%s: want two default-drop chains:\n%s", c.Name, got)
			}
		})
	}
}

// A single component with CIDRs, port ranges and UDP: interval elements in a concatenation.
func TestComponentRulesetWithRangesLoads(t *testing.T) {
	testenv.Require(t, testenv.Root, testenv.IP, testenv.Nftables)
	dir := t.TempDir()
	src := `version: 1
name: agent
run: {command: [/bin/agent]}
filesystem: {read: [/bin]}
network:
  listen:
    - port: 5000-5010/udp
      from: [192.168.0.0/16, 127.0.0.1]
  connect:
    - to: 10.0.0.0/8:443/tcp
    - to: 172.16.5.4:8000-8100/tcp
    - to: 0.0.0.0/0:53/udp
syscalls: {extends: default}
`
	if err := os.WriteFile(filepath.Join(dir, "agent.yaml"), []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	p := compile(t, dir, "agent.yaml")
	got := checkAndLoad(t, p.Components[0].Net.Firewall)
	for _, want := range []string{"192.168.0.0/16 . 0.0.0.0/0 . udp . 5000-5010", "172.16.5.4 . 0.0.0.0/0 . tcp . 8000-8100", "10.0.0.0/8 . 0.0.0.0/0 . tcp . 443"} {
		if !strings.Contains(got, want) {
			t.Errorf("ruleset lacks %q:\n%s", want, got)
		}
	}
}

// Two host ports published to one component port give one flow, not two overlapping
// elements that nft would refuse.
func TestStackWithRepeatedPublishLoads(t *testing.T) {
	testenv.Require(t, testenv.Root, testenv.IP, testenv.Nftables)
	dir := t.TempDir()
	files := map[string]string{
		"stack.yaml": "version: 1\nname: pub\nsubnet: 10.77.0.0/24\ncomponents: [web.yaml]\npublish: [\"127.0.0.1:8080 -> web:80/tcp\", \"127.0.0.1:8081 -> web:80/tcp\"]\n",
		"web.yaml": `version: 1
name: web
run: {command: [/bin/web]}
filesystem: {read: [/bin]}
network:
  listen:
    - port: 80/tcp
      from: [host, 192.168.0.0/16]
  connect:
    - to: 198.51.100.0/24:443/tcp
    - to: 172.16.0.0/12:400-500/tcp
syscalls: {extends: default}
`,
	}
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	p := compile(t, dir, "stack.yaml")
	if got := checkAndLoad(t, p.Network.Firewall); !strings.Contains(got, "10.77.0.2 . 10.77.0.1 . tcp . 80") || !strings.Contains(got, "172.16.0.0/12 . 10.77.0.2 . tcp . 400-500") {
		t.Errorf("bridge ruleset:\n%s", got)
	}
	checkAndLoad(t, p.Components[0].Net.Firewall)
}

// TestNetlinkMatchesText applies each ruleset over netlink in one namespace and loads its
// nft text in another: the kernel must list the same ruleset for both, so
// `compile --format nft` and what run applies cannot drift apart.
func TestNetlinkMatchesText(t *testing.T) {
	testenv.Require(t, testenv.Root, testenv.IP, testenv.Nftables)
	p := compile(t, "../../examples", "shop/stack.yaml")
	rulesets := []plan.Firewall{p.Network.Firewall}
	for _, c := range p.Components {
		rulesets = append(rulesets, c.Net.Firewall)
	}
	for _, fw := range rulesets {
		sameByNetlinkAndText(t, fw)
	}
}

// TestLoneRulesetWithoutFlowsMatchesText: a lone run that neither listens nor connects
// (bench/run.sh's policy) has no flows sets and no lookup of one, and its table is the
// same by netlink and by nft -f.
func TestLoneRulesetWithoutFlowsMatchesText(t *testing.T) {
	testenv.Require(t, testenv.Root, testenv.IP, testenv.Nftables)
	dir := t.TempDir()
	src := "version: 1\nname: lone\nrun: {command: [/true]}\nfilesystem: {read: [/true]}\nsyscalls: {extends: default}\n"
	if err := os.WriteFile(filepath.Join(dir, "lone.yaml"), []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	text := sameByNetlinkAndText(t, compile(t, dir, "lone.yaml").Components[0].Net.Firewall)
	for _, unwanted := range []string{"set ingress ", "set egress ", "@ingress", "@egress"} {
		if strings.Contains(text, unwanted) {
			t.Errorf("the lone table holds %q:\n%s", unwanted, text)
		}
	}
	for _, want := range []string{"set seen_ingress ", "set seen_egress ", `oif "lo" accept`, `iif "lo" accept`, `log prefix "confine-drop egress: " group 7 drop`} {
		if !strings.Contains(text, want) {
			t.Errorf("the lone table lacks %q:\n%s", want, text)
		}
	}
}

// TestAuditRulesetsMatchText: audit mode's rules (a component's log-and-accept, the
// bridge's per-address accepts) load, and the same, by netlink and by nft -f.
func TestAuditRulesetsMatchText(t *testing.T) {
	testenv.Require(t, testenv.Root, testenv.IP, testenv.Nftables)
	p := compile(t, "../../examples", "shop/stack.yaml")
	bridge := p.Network.Firewall
	bridge.AuditAddrs = []string{p.Components[0].Net.Address, p.Components[1].Net.Address}
	c := p.Components[0].Net.Firewall
	c.Audit = true
	for _, fw := range []plan.Firewall{bridge, c} {
		text := sameByNetlinkAndText(t, fw)
		if !strings.Contains(text, `log prefix "confine-audit `) || fw.Audit && strings.Contains(text, "confine-drop") {
			t.Errorf("%s: audit rules missing:\n%s", fw.Table, text)
		}
	}
}

// sameByNetlinkAndText applies fw over netlink in one namespace and loads its nft text
// in another, twice and then torn down; both must list the same. It returns the text.
func sameByNetlinkAndText(t *testing.T, fw plan.Firewall) string {
	t.Helper()
	byText := checkAndLoad(t, fw)
	ns := netns(t)
	if err := netfilter.Apply("/run/netns/"+ns, fw); err != nil {
		t.Fatalf("apply %s: %v", fw.Table, err)
	}
	if err := netfilter.Apply("/run/netns/"+ns, fw); err != nil {
		t.Fatalf("apply %s again: %v", fw.Table, err)
	}
	if byNetlink := nft(t, ns, "list", "ruleset"); byNetlink != byText {
		t.Errorf("%s differs:\n--- netlink\n%s\n--- nft -f\n%s", fw.Table, byNetlink, byText)
	}
	if err := netfilter.Teardown("/run/netns/"+ns, fw); err != nil {
		t.Fatal(err)
	}
	if left := nft(t, ns, "list", "ruleset"); strings.TrimSpace(left) != "" {
		t.Errorf("teardown left:\n%s", left)
	}
	return byText
}

// TestNetlinkMatchesTextManyFlows: a table of 10,000 flows (past the 16-bit length of one
// netlink element list) and a names set loads whole by netlink, as by nft -f.
func TestNetlinkMatchesTextManyFlows(t *testing.T) {
	testenv.Require(t, testenv.Root, testenv.IP, testenv.Nftables)
	fw := plan.Firewall{Family: "inet", Table: "confine_many", LogGroup: 7,
		Chains: []plan.Chain{{Name: "forward", Hook: "forward", FlowsSet: "flows", NamesSet: "names"}}}
	for i := 0; i < 10000; i++ {
		fw.Flows = append(fw.Flows, plan.Flow{Set: "flows", Src: fmt.Sprintf("10.1.%d.%d/32", i/250, 1+i%250),
			Dst: fmt.Sprintf("198.18.%d.%d/32", i/250, 1+i%250), Proto: "tcp", First: 443, Last: 443})
	}
	byText := checkAndLoad(t, fw)
	ns := netns(t)
	if err := netfilter.Apply("/run/netns/"+ns, fw); err != nil {
		t.Fatalf("apply: %v", err)
	}
	byNetlink := nft(t, ns, "list", "ruleset")
	if byNetlink != byText {
		t.Errorf("the netlink table differs from nft -f's (%d and %d bytes)", len(byNetlink), len(byText))
	}
	if n := strings.Count(byNetlink, "198.18."); n != 10000 {
		t.Errorf("the kernel holds %d of the 10,000 flows", n)
	}
}
