//go:build linux

package stack_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/confine-sandbox/confine/audit"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// TestShortLivedChildrenAttributed: 100 children of one component, each gone a moment
// after it started, each make a denied connect (Landlock), a denied file creation
// (Landlock) and a denied syscall (seccomp): all 300 denials reach the log under that
// component, each kind once per child, none under its neighbour, and the neighbour's own
// denial under the neighbour. The pid of a child is gone before its record is read, so
// only its host uid (or its Landlock domain) can name the component.
func TestShortLivedChildrenAttributed(t *testing.T) {
	testenv.Require(t, testenv.Root, testenv.Nftables)
	const children = 100
	stack := testenv.StackName("kids")
	dir := t.TempDir()
	log := filepath.Join(dir, "audit.log")
	const kids = "children:100/connect:10.86.0.3:6379,write:/dev/confine-kid,mount:/tmp"
	component(t, dir, "parent", "", kids, "sleep:")
	component(t, dir, "calm", "", "mount:/proc", "sleep:")
	upStack(t, dir, stack, "10.86.0.0/24", []string{"parent", "calm"}, "", "--audit-log", log)
	// A child prints its probes' errors and exits 0: all 100 ran to the end.
	if res := results(t, stack, "parent", kids); res[kids].Out != "100" {
		t.Fatalf("children: %+v", res[kids])
	}

	kinds := []struct{ layer, what string }{
		{audit.LayerLandlock, "connect 6379/tcp"},
		{audit.LayerLandlock, "make_reg /dev"},
		{audit.LayerSeccomp, "syscall mount"},
	}
	type key struct{ component, layer, what string }
	var counts map[key]int
	var pids map[key]map[float64]bool
	deadline := time.Now().Add(30 * time.Second)
	for {
		records, err := audit.ReadLog(log)
		if err != nil {
			t.Fatal(err)
		}
		counts, pids = map[key]int{}, map[key]map[float64]bool{}
		for _, r := range records {
			if r.Kind != audit.KindDenial {
				continue
			}
			k := key{r.Component, r.Details[audit.DetailLayer].(string), r.Details[audit.DetailWhat].(string)}
			n, _ := r.Details["count"].(float64)
			counts[k] += int(n)
			if pids[k] == nil {
				pids[k] = map[float64]bool{}
			}
			pid, _ := r.Details["pid"].(float64)
			pids[k][pid] = true
		}
		done := counts[key{"calm", audit.LayerSeccomp, "syscall mount"}] > 0
		for _, k := range kinds {
			done = done && counts[key{"parent", k.layer, k.what}] >= children
		}
		if done || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	total := 0
	for _, k := range kinds {
		c := key{"parent", k.layer, k.what}
		total += counts[c]
		if counts[c] != children || len(pids[c]) != children {
			t.Errorf("parent %s %q: %d denials from %d pids, want %d from %d", k.layer, k.what, counts[c], len(pids[c]), children, children)
		}
		if n := counts[key{"calm", k.layer, k.what}]; n != 0 && k.what != "syscall mount" {
			t.Errorf("calm was given %d of parent's %q denials", n, k.what)
		}
	}
	if total != 3*children {
		t.Errorf("%d attributed denials, want %d", total, 3*children)
	}
	if n := counts[key{"calm", audit.LayerSeccomp, "syscall mount"}]; n != 1 {
		t.Errorf("calm's own mount: %d denials, want 1", n)
	}
	for k, n := range counts {
		if k.component != "parent" && k.component != "calm" {
			t.Errorf("%d denials of %q under %q", n, k.what, k.component)
		}
	}
}

// TestRetransmissionsOneDenial: a connect that a component's firewall drops is sent
// again and again by TCP; the log has one denial for it at once, and one more record
// that counts the retransmissions, not one denial per packet.
func TestRetransmissionsOneDenial(t *testing.T) {
	testenv.Require(t, testenv.Root, testenv.Nftables)
	stack := testenv.StackName("resend")
	dir := t.TempDir()
	log := filepath.Join(dir, "audit.log")
	// Addresses: bridge .1, a .2, b .3. a listens on 5432, so Landlock lets it connect
	// to that port anywhere; its firewall drops the undeclared call to b.
	component(t, dir, "a", "network:\n  listen: [{port: 5432/tcp, from: [b]}]", "syn:10.87.0.3:5432/3500ms", "sleep:")
	component(t, dir, "b", "network:\n  connect: [{to: \"a:5432/tcp\"}]", "sleep:")
	upStack(t, dir, stack, "10.87.0.0/24", []string{"a", "b"}, "", "--audit-log", log)
	if res := results(t, stack, "a", "syn:10.87.0.3:5432/3500ms"); res["syn:10.87.0.3:5432/3500ms"].OK {
		t.Fatal("the undeclared connect went through")
	}
	const what = "a connects to b:5432/tcp"
	var first, tallies []audit.Record
	deadline := time.Now().Add(30 * time.Second)
	for {
		records, err := audit.ReadLog(log)
		if err != nil {
			t.Fatal(err)
		}
		first, tallies = nil, nil
		for _, r := range records {
			if r.Kind != audit.KindDenial || r.Details[audit.DetailWhat] != what {
				continue
			}
			if r.Details["retransmissions"] == true {
				tallies = append(tallies, r)
			} else {
				first = append(first, r)
			}
		}
		if len(tallies) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if len(first) != 1 || first[0].Details[audit.DetailCount] != float64(1) {
		t.Fatalf("denials of the refused connect: %v, want one with count 1", first)
	}
	// SYNs at 0, 1 and 3 s within the 3.5 s the probe waits: 2 retransmissions, or
	// fewer on a slow machine; never a denial of their own.
	if len(tallies) != 1 || tallies[0].Details[audit.DetailCount].(float64) < 1 {
		t.Fatalf("retransmission tallies: %v, want one", tallies)
	}
	t.Logf("one denial, and %v retransmissions counted", tallies[0].Details[audit.DetailCount])
}
