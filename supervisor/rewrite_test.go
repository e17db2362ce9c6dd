//go:build linux

package supervisor

import (
	"net/netip"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/netfilter"
	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// TestAttachRewriteFallback: where the programs cannot be loaded (here, a thread whose
// effective capabilities are dropped), AttachRewrite warns that the proxy serves the
// host's loopback, records the error in publish.rewrite, and leaves nothing: nil.
func TestAttachRewriteFallback(t *testing.T) {
	testenv.Require(t, testenv.Root)
	n := plan.Network{Published: []plan.Publish{{HostAddress: "0.0.0.0", HostPort: 47321, Component: "web",
		Address: "10.89.0.2", Port: 80, Proto: "tcp", Kernel: true}}}
	u := &netfilter.Uplink{Gateway: netip.MustParseAddr("100.127.0.1"), Peer: netip.MustParseAddr("100.127.0.2")}
	var warned []string
	var records []map[string]any
	type result struct {
		r   *netfilter.Rewrite
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		err := unix.Capget(&hdr, &data[0])
		if err == nil {
			data[0].Effective, data[1].Effective = 0, 0
			err = unix.Capset(&hdr, &data[0])
		}
		if err != nil {
			done <- result{err: err}
			return
		}
		r := AttachRewrite(n, u, func(m string) { warned = append(warned, m) }, func(kind, _ string, d map[string]any) {
			if kind == EventPublishRewrite {
				records = append(records, d)
			}
		})
		done <- result{r: r}
	}()
	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	if res.r != nil {
		res.r.Close()
		t.Fatal("attached without capabilities")
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "userspace proxy") {
		t.Errorf("warnings %q, want one that the proxy serves", warned)
	}
	if len(records) != 1 || records[0]["error"] == nil || records[0]["links"] != nil {
		t.Errorf("publish.rewrite records %v, want one with the error and no links", records)
	}
}
