//go:build linux

package net_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/netfilter"
	"github.com/confine-sandbox/confine/policy/plan"
)

// firstDialRetrans connects from namespace ns to addr, waiting out retransmissions, and
// returns how many segments the connection retransmitted (TCP_INFO): a first SYN lost
// to an unanswered neighbour lookup counts one.
func firstDialRetrans(ns, addr string) (uint32, error) {
	var retrans uint32
	err := netfilter.InNamespace(nsPath(ns), func() error {
		c, err := net.DialTimeout("tcp4", addr, 10*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		raw, err := c.(*net.TCPConn).SyscallConn()
		if err != nil {
			return err
		}
		var ierr error
		raw.Control(func(fd uintptr) {
			var info *unix.TCPInfo
			info, ierr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
			if ierr == nil {
				retrans = info.Total_retrans
			}
		})
		return ierr
	})
	return retrans, err
}

// listenIn accepts and closes TCP connections on addr inside namespace path.
func listenIn(t *testing.T, path, addr string) {
	t.Helper()
	err := netfilter.InNamespace(path, func() error {
		l, err := net.Listen("tcp4", addr)
		if err != nil {
			return err
		}
		t.Cleanup(func() { l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestFreshAttachFirstSYN counts, over fresh attaches, the connections whose first SYN
// was retransmitted: a lone run's uplink (the component to its gateway, the host) and a
// stack component's veth (the component to the bridge). The neighbour entries are
// pinned when the veth is made, so no first packet waits for ARP: none may be lost. It
// counts; it asserts no time.
func TestFreshAttachFirstSYN(t *testing.T) {
	w := newWorld(t)
	const attaches = 40
	listenIn(t, nsPath(w.host), "0.0.0.0:9000")
	lost := 0
	net := plan.Network{Uplink: &plan.Uplink{Host: []plan.Flow{{Set: "egress", Proto: "tcp", First: 9000, Last: 9000}}}}
	for i := range attaches {
		ns := fmt.Sprintf("%s-l%d", w.host, i)
		w.ip("netns", "add", ns)
		err := netfilter.InNamespace(nsPath(w.host), func() error {
			u, err := netfilter.ReserveLoneUplink(fmt.Sprintf("syn.%d.%d", os.Getpid(), i))
			if err != nil {
				return err
			}
			defer u.Remove()
			if err := u.AttachLone(nsPath(ns), net); err != nil {
				return err
			}
			n, err := firstDialRetrans(ns, u.Gateway.String()+":9000")
			if n > 0 {
				lost++
			}
			return err
		})
		exec.Command("ip", "netns", "del", ns).Run()
		if err != nil {
			t.Fatalf("lone attach %d: %v", i, err)
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d connections over a fresh lone uplink retransmitted their first SYN", lost, attaches)
	}

	stack := fmt.Sprintf("synloss-%d", os.Getpid())
	var b *netfilter.Bridge
	err := netfilter.InNamespace(nsPath(w.host), func() error {
		var err error
		b, err = netfilter.CreateBridge(stack, plan.Network{Subnet: "10.86.0.0/24", BridgeAddress: "10.86.0.1",
			Firewall: plan.Firewall{Family: "inet", Table: "confine_synloss", Chains: []plan.Chain{{Name: "forward", Hook: "forward", FlowsSet: "flows"}}}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Remove()
	listenIn(t, b.NSPath, "10.86.0.1:9000")
	lost = 0
	for i := range attaches {
		ns := fmt.Sprintf("%s-s%d", w.host, i)
		w.ip("netns", "add", ns)
		err := b.Attach(nsPath(ns), netfilter.PortName(0, i), "10.86.0.2")
		var n uint32
		if err == nil {
			n, err = firstDialRetrans(ns, "10.86.0.1:9000")
		}
		exec.Command("ip", "netns", "del", ns).Run()
		if err != nil {
			t.Fatalf("stack attach %d: %v", i, err)
		}
		if n > 0 {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d connections over a fresh stack veth retransmitted their first SYN", lost, attaches)
	}
}
