package netfilter

import (
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/confine-sandbox/confine/tests/testenv"
)

// TestLegacyForwardDrop reads the legacy FORWARD policy in a namespace of its own (named,
// so iptables-legacy is sent there explicitly): none before iptables-legacy made the
// table, ACCEPT, then DROP.
func TestLegacyForwardDrop(t *testing.T) {
	testenv.Require(t, testenv.Root, testenv.IP, testenv.Command("iptables-legacy"), testenv.Command("nsenter"))
	name := fmt.Sprintf("cflegacy-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v\n%s", err, out)
	}
	defer exec.Command("ip", "netns", "del", name).Run()
	path := "/run/netns/" + name
	for _, c := range []struct {
		policy string
		want   bool
	}{{"", false}, {"ACCEPT", false}, {"DROP", true}, {"ACCEPT", false}} {
		if c.policy != "" {
			if out, err := exec.Command("nsenter", "--net="+path, "iptables-legacy", "-P", "FORWARD", c.policy).CombinedOutput(); err != nil {
				t.Fatalf("iptables-legacy -P FORWARD %s: %v\n%s", c.policy, err, out)
			}
		}
		var got bool
		err := InNamespace(path, func() error {
			var err error
			got, err = legacyForwardDrop()
			return err
		})
		if err != nil || got != c.want {
			t.Errorf("policy %q: legacyForwardDrop() = %v, %v; want %v", c.policy, got, err, c.want)
		}
	}
}
