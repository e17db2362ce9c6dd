package netfilter

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// ApplyNew loads the table into a new namespace without listing its tables first; into
// a namespace that already holds the table it fails with EEXIST and changes nothing
// (the table keeps its flows, no other flow is added), where Apply replaces it whole.
func TestApplyNew(t *testing.T) {
	testenv.Require(t, testenv.Root)
	ns, _ := newNetNS(t)
	if err := ApplyNew(ns, dropFirewall); err != nil {
		t.Fatal(err)
	}
	if got := ingressPorts(t, ns); !slices.Equal(got, []uint16{8080}) {
		t.Fatalf("after ApplyNew the flows set holds ports %v, want [8080]", got)
	}
	other := dropFirewall
	other.Flows = []plan.Flow{{Set: "ingress", Src: "127.0.0.1/32", Dst: "127.0.0.1/32", Proto: "tcp", First: 9090, Last: 9090}}
	err := ApplyNew(ns, other)
	if !errors.Is(err, unix.EEXIST) {
		t.Fatalf("ApplyNew into a namespace that holds the table: %v, want EEXIST", err)
	}
	if got := ingressPorts(t, ns); !slices.Equal(got, []uint16{8080}) {
		t.Fatalf("after the refused ApplyNew the flows set holds ports %v, want [8080] only", got)
	}
	if err := Apply(ns, other); err != nil {
		t.Fatal(err)
	}
	if got := ingressPorts(t, ns); !slices.Equal(got, []uint16{9090}) {
		t.Fatalf("after Apply the flows set holds ports %v, want [9090]", got)
	}
}

// ingressPorts lists the first port of each range in the ingress flows set.
func ingressPorts(t *testing.T, ns string) []uint16 {
	t.Helper()
	conn, closeNS, err := connect(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer closeNS()
	table := &nftables.Table{Family: nftables.TableFamilyINet, Name: dropFirewall.Table}
	set, err := conn.GetSetByName(table, "ingress")
	if err != nil {
		t.Fatal(err)
	}
	elems, err := conn.GetSetElements(set)
	if err != nil {
		t.Fatal(err)
	}
	var ports []uint16
	for _, e := range elems {
		if len(e.Key) == 16 && !e.IntervalEnd {
			ports = append(ports, uint16(e.Key[12])<<8|uint16(e.Key[13]))
		}
	}
	slices.Sort(ports)
	return slices.Compact(ports)
}

// TestApplyNewWithoutFlows: the lone run's table with no listen and no egress has no
// flows sets nor lookups (hasFlows), only the seen sets, and still enforces: loopback
// connects, a datagram out of another interface is dropped
// and logged under egress, its key added to seen_egress as the logged drop's. The
// other interface is a veth whose peer stays in the namespace: the output hook comes
// before the neighbour lookup, so nothing needs to answer.
func TestApplyNewWithoutFlows(t *testing.T) {
	testenv.Require(t, testenv.Root)
	ns, inNS := newNetNS(t)
	if err := ApplyNew(ns, loneFirewall); err != nil {
		t.Fatal(err)
	}
	conn, closeNS, err := connect(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer closeNS()
	table := &nftables.Table{Family: nftables.TableFamilyINet, Name: loneFirewall.Table}
	sets, err := conn.GetSets(table)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range sets {
		names = append(names, s.Name)
	}
	slices.Sort(names)
	if want := []string{"seen_egress", "seen_ingress"}; !slices.Equal(names, want) {
		t.Errorf("sets %v, want %v", names, want)
	}
	r := listen(t, ns)
	err = inNS(func() error {
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "out0"}, PeerName: "out1"}
		if err := netlink.LinkAdd(veth); err != nil {
			return err
		}
		if err := netlink.AddrAdd(veth, &netlink.Addr{IPNet: &net.IPNet{IP: net.IPv4(10, 99, 0, 1), Mask: net.CIDRMask(24, 32)}}); err != nil {
			return err
		}
		if err := netlink.LinkSetUp(veth); err != nil {
			return err
		}
		ln, err := net.Listen("tcp", "127.0.0.1:8080")
		if err != nil {
			return err
		}
		defer ln.Close()
		c, err := net.DialTimeout("tcp", "127.0.0.1:8080", 2*time.Second)
		if err != nil {
			return fmt.Errorf("loopback: %w", err)
		}
		c.Close()
		u, err := net.Dial("udp", "10.99.0.2:53")
		if err != nil {
			return err
		}
		defer u.Close()
		if _, err := u.Write([]byte("x")); err != nil && !errors.Is(err, unix.EPERM) {
			return err // the drop on output is EPERM to the sender
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := r.Next()
	if err != nil {
		t.Fatalf("waiting for the egress drop: %v", err)
	}
	src, dst := netip.MustParseAddr("10.99.0.1"), netip.MustParseAddr("10.99.0.2")
	if rec.Prefix != "confine-drop egress: " || rec.Proto != "udp" || rec.Src != src || rec.Dst != dst || rec.DstPort != 53 {
		t.Errorf("got %+v, want the egress drop of udp 10.99.0.1 to 10.99.0.2:53", rec)
	}
	elems, err := conn.GetSetElements(&nftables.Set{Table: table, Name: SeenPrefix + "egress"})
	if err != nil {
		t.Fatal(err)
	}
	if want := key(src, dst, unix.IPPROTO_UDP, 53); len(elems) != 1 || !bytes.Equal(elems[0].Key, want) {
		t.Errorf("seen_egress holds %v, want the one key %x", elems, want)
	}
}

// TestApplyNewPid loads the table into a child's network namespace through its pidfd:
// the child's namespace holds it; a second load fails with EEXIST, and a load into a
// process that is gone is an error.
func TestApplyNewPid(t *testing.T) {
	testenv.Require(t, testenv.Root)
	child := exec.Command("sleep", "60")
	child.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { child.Process.Kill(); child.Wait() }) // a second Wait only errs
	pid := child.Process.Pid
	if err := ApplyNewPid(pid, dropFirewall); err != nil {
		t.Fatal(err)
	}
	ns := fmt.Sprintf("/proc/%d/ns/net", pid)
	if got := ingressPorts(t, ns); !slices.Equal(got, []uint16{8080}) {
		t.Fatalf("the child's namespace holds ports %v, want [8080]", got)
	}
	if err := ApplyNewPid(pid, dropFirewall); !errors.Is(err, unix.EEXIST) {
		t.Errorf("a second load: %v, want EEXIST", err)
	}
	child.Process.Kill()
	child.Wait()
	if err := ApplyNewPid(pid, dropFirewall); err == nil {
		t.Error("a load into a process that is gone succeeded")
	}
}
