//go:build linux

package net_test

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/confine-sandbox/confine/netfilter"
	"github.com/confine-sandbox/confine/policy/plan"
)

// TestAttachSetsUp checks what Bridge.Attach leaves on both sides of a component's veth,
// as it works through netlink sockets bound to the namespaces: eth0 with its address, up,
// its loopback up, a permanent neighbour entry on each side, and IPv6 off on eth0, on
// the bridge's port and on the bridge (born so: CreateBridge). A connection to the
// bridge then works, and one to an address outside the subnet fails, the stack having
// no uplink hence no route.
func TestAttachSetsUp(t *testing.T) {
	w := newWorld(t)
	stack := fmt.Sprintf("attach-%d", os.Getpid())
	var b *netfilter.Bridge
	err := netfilter.InNamespace(nsPath(w.host), func() error {
		var err error
		b, err = netfilter.CreateBridge(stack, plan.Network{Subnet: "10.87.0.0/24", BridgeAddress: "10.87.0.1",
			Firewall: plan.Firewall{Family: "inet", Table: "confine_attach", Chains: []plan.Chain{{Name: "forward", Hook: "forward", FlowsSet: "flows"}}}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Remove()
	listenIn(t, b.NSPath, "10.87.0.1:9000")
	ns := w.host + "-a"
	w.ip("netns", "add", ns)
	defer exec.Command("ip", "netns", "del", ns).Run()
	port := netfilter.PortName(3, 7)
	if err := b.Attach(nsPath(ns), port, "10.87.0.5"); err != nil {
		t.Fatal(err)
	}
	sysctl := func(path, name string) string {
		t.Helper()
		var v []byte
		if err := netfilter.InNamespace(path, func() (err error) { v, err = os.ReadFile(name); return }); err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(v))
	}
	if v := sysctl(nsPath(ns), "/proc/sys/net/ipv6/conf/eth0/disable_ipv6"); v != "1" {
		t.Errorf("eth0 disable_ipv6 = %s, want 1", v)
	}
	for _, link := range []string{port, "confine0"} { // the bridge too: no solicitations to the ports
		if v := sysctl(b.NSPath, "/proc/sys/net/ipv6/conf/"+link+"/disable_ipv6"); v != "1" {
			t.Errorf("%s disable_ipv6 = %s, want 1", link, v)
		}
	}
	for _, want := range []string{"inet 10.87.0.5/24", "state UP"} {
		if out := w.ip("-n", ns, "addr", "show", "eth0"); !strings.Contains(out, want) {
			t.Errorf("eth0 lacks %q:\n%s", want, out)
		}
	}
	if out := w.ip("-n", ns, "link", "show", "lo"); !strings.Contains(out, ",UP") {
		t.Errorf("lo is not up:\n%s", out)
	}
	if out := w.ip("-n", ns, "neigh", "show", "10.87.0.1"); !strings.Contains(out, "PERMANENT") {
		t.Errorf("no permanent neighbour entry for the bridge: %q", out)
	}
	if out, err := exec.Command("nsenter", "--net="+b.NSPath, "ip", "neigh", "show", "10.87.0.5").CombinedOutput(); err != nil || !strings.Contains(string(out), "PERMANENT") {
		t.Errorf("no permanent neighbour entry for the component on the bridge: %v %q", err, out)
	}
	if out := w.ip("-n", ns, "route", "show", "default"); strings.TrimSpace(out) != "" {
		t.Errorf("a default route without an uplink: %q", out)
	}
	if n, err := firstDialRetrans(ns, "10.87.0.1:9000"); err != nil || n > 0 {
		t.Errorf("to the bridge: %v, %d retransmissions", err, n)
	}
	if _, err := firstDialRetrans(ns, hostAddr+":9000"); err == nil {
		t.Errorf("reached %s with no route out of the stack", hostAddr)
	}
}
