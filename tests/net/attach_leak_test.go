//go:build linux

package net_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/confine-sandbox/confine/netfilter"
	"github.com/confine-sandbox/confine/policy/plan"
)

// TestAttachLeaksNothing: Bridge.Attach, over many components, leaves no descriptor
// (netlink sockets, namespace handles) and no thread behind in the supervisor, nor any
// thread of it in another namespace (Go's main thread, which the runtime parks for good
// when a goroutine ends locked to it, stayed in the namespace InNamespace left it in,
// and held it: a component's, its port on the bridge, its address); an attach refused
// (eth0 taken in the component's namespace) leaves no port on the bridge; the ports go
// with the components' namespaces.
func TestAttachLeaksNothing(t *testing.T) {
	w := newWorld(t)
	own := netnsOf(t, "/proc/self/ns/net") // the main thread's
	stack := fmt.Sprintf("leak-%d", os.Getpid())
	var b *netfilter.Bridge
	err := netfilter.InNamespace(nsPath(w.host), func() error {
		var err error
		b, err = netfilter.CreateBridge(stack, plan.Network{Subnet: "10.88.0.0/24", BridgeAddress: "10.88.0.1",
			Firewall: plan.Firewall{Family: "inet", Table: "confine_leak", Chains: []plan.Chain{{Name: "forward", Hook: "forward", FlowsSet: "flows"}}}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Remove()
	attach := func(i int) error {
		ns := fmt.Sprintf("%s-l%d", w.host, i)
		w.ip("netns", "add", ns)
		defer exec.Command("ip", "netns", "del", ns).Run()
		return b.Attach(nsPath(ns), netfilter.PortName(1, i), fmt.Sprintf("10.88.0.%d", 10+i%200))
	}
	for i := range 3 { // the runtime's own threads and the netlink package's first use
		if err := attach(i); err != nil {
			t.Fatal(err)
		}
	}
	fds, threads := count(t, "/proc/self/fd"), count(t, "/proc/self/task")
	for i := 3; i < 43; i++ {
		if err := attach(i); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(t, "/proc/self/fd"); n != fds {
		t.Errorf("40 attaches: %d descriptors, %d before", n, fds)
	}
	if n := count(t, "/proc/self/task"); n > threads+2 {
		t.Errorf("40 attaches: %d threads, %d before", n, threads)
	}
	for range 500 { // the main thread, idle, runs some of them
		if err := netfilter.InNamespace(b.NSPath, func() error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	tasks, _ := filepath.Glob("/proc/self/task/*/ns/net")
	for _, task := range tasks {
		if ns := netnsOf(t, task); ns != own && ns != "" {
			t.Errorf("thread %s is in %s, not in the process's own %s", filepath.Base(filepath.Dir(filepath.Dir(task))), ns, own)
		}
	}

	// Refused: the component's namespace holds an eth0 already.
	ns := w.host + "-taken"
	w.ip("netns", "add", ns)
	defer exec.Command("ip", "netns", "del", ns).Run()
	w.ip("-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", "eth1")
	if err := b.Attach(nsPath(ns), netfilter.PortName(2, 1), "10.88.0.250"); err == nil {
		t.Error("attached to a namespace whose eth0 is taken")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := exec.Command("nsenter", "--net="+b.NSPath, "ip", "-o", "link", "show").CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		left := strings.Count(string(out), " vc")
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d ports left on the bridge after their namespaces went, or after a refused attach:\n%s", left, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// netnsOf names the namespace a /proc ns link shows ("" for a thread gone since).
func netnsOf(t *testing.T, link string) string {
	t.Helper()
	ns, err := os.Readlink(link)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return ns
}

// count is how many entries dir has.
func count(t *testing.T, dir string) int {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}
