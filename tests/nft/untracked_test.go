//go:build linux

package nft_test

import (
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/netfilter"
	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// inNS runs f on a thread of its own in network namespace ns; the thread ends with it.
func inNS(t *testing.T, ns string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		fd, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Error(err)
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			t.Error(err)
			return
		}
		f()
	}()
	<-done
}

func ipCmd(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// TestLoopbackUntracked: a component's table exempts its loopback from connection
// tracking (its chains accept lo before any ct rule) and still tracks and filters the
// rest. Over lo a connection works and leaves no conntrack entry; from a neighbour over
// a veth, the declared flow works and is tracked, an undeclared port is dropped.
func TestLoopbackUntracked(t *testing.T) {
	testenv.Require(t, testenv.Root, testenv.IP, testenv.Nftables)
	comp, peer := netns(t), netns(t)
	ipCmd(t, "-n", comp, "link", "add", "v0", "type", "veth", "peer", "name", "v0", "netns", peer)
	for ns, a := range map[string]string{comp: "192.0.2.1/24", peer: "192.0.2.2/24"} {
		ipCmd(t, "-n", ns, "addr", "add", a, "dev", "v0")
		ipCmd(t, "-n", ns, "link", "set", "v0", "up")
		ipCmd(t, "-n", ns, "link", "set", "lo", "up")
	}
	fw := plan.Firewall{Family: "inet", Table: "confine", LogGroup: 7,
		Chains: []plan.Chain{
			{Name: "ingress", Hook: "input", AcceptLoopback: true, FlowsSet: "ingress"},
			{Name: "egress", Hook: "output", AcceptLoopback: true, FlowsSet: "egress"},
		},
		Flows: []plan.Flow{{Set: "ingress", Src: "192.0.2.2/32", Dst: "192.0.2.1/32", Proto: "tcp", First: 8080, Last: 8080}}}
	if err := netfilter.Apply("/run/netns/"+comp, fw); err != nil {
		t.Fatal(err)
	}
	var conntrack string
	inNS(t, comp, func() {
		for _, port := range []string{"8080", "8081"} {
			l, err := net.Listen("tcp4", "0.0.0.0:"+port)
			if err != nil {
				t.Error(err)
				return
			}
			t.Cleanup(func() { l.Close() })
		}
		c, err := net.DialTimeout("tcp4", "127.0.0.1:8080", 2*time.Second)
		if err != nil {
			t.Errorf("over loopback: %v", err)
			return
		}
		c.Close()
	})
	inNS(t, peer, func() {
		c, err := net.DialTimeout("tcp4", "192.0.2.1:8080", 2*time.Second)
		if err != nil {
			t.Errorf("the declared flow: %v", err)
		} else {
			c.Close()
		}
		if c, err := net.DialTimeout("tcp4", "192.0.2.1:8081", time.Second); err == nil {
			c.Close()
			t.Error("an undeclared port answered")
		}
	})
	inNS(t, comp, func() {
		b, err := os.ReadFile("/proc/thread-self/net/nf_conntrack")
		if err != nil {
			t.Error(err)
		}
		conntrack = string(b)
	})
	if strings.Contains(conntrack, "127.0.0.1") {
		t.Errorf("a loopback connection was tracked:\n%s", conntrack)
	}
	if !strings.Contains(conntrack, "src=192.0.2.2 dst=192.0.2.1 sport=") || !strings.Contains(conntrack, "dport=8080") {
		t.Errorf("the veth connection was not tracked:\n%s", conntrack)
	}
}
