//go:build linux

package run_test

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/confine-sandbox/confine/sandbox"
	"github.com/confine-sandbox/confine/tests/testenv"
)

// listen turns audit on for the test and starts a reader whose denials arrive on the
// returned channel until the test ends.
func listen(t *testing.T) (*sandbox.AuditReader, <-chan sandbox.KernelDenial) {
	t.Helper()
	testenv.Require(t, testenv.Root)
	restore, err := sandbox.EnableKernelAudit()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := restore(); err != nil {
			t.Errorf("restoring audit_enabled: %v", err)
		}
	})
	r, err := sandbox.ListenKernelAudit()
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan sandbox.KernelDenial, 1<<16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(ch)
		for {
			d, err := r.Next()
			if err != nil {
				if !strings.Contains(err.Error(), "closed") {
					t.Errorf("Next: %v", err)
				}
				return
			}
			ch <- d
		}
	}()
	t.Cleanup(func() { r.Close(); <-done })
	return r, ch
}

// collect gathers pid's denials until want says it has them all or the time is up.
func collect(ch <-chan sandbox.KernelDenial, pid int, wait time.Duration, want func([]sandbox.KernelDenial) bool) []sandbox.KernelDenial {
	var got []sandbox.KernelDenial
	deadline := time.After(wait)
	for !want(got) {
		select {
		case d, ok := <-ch:
			if !ok {
				return got
			}
			if d.Pid == pid {
				got = append(got, d)
			}
		case <-deadline:
			return got
		}
	}
	return got
}

// TestKernelAuditDenials runs a sandbox whose seccomp filter denies bpf(2) with errno and
// whose Landlock ruleset denies a file write, a file creation and a TCP connect: each
// denial arrives from the kernel with the component's pid and what was denied.
func TestKernelAuditDenials(t *testing.T) {
	_, ch := listen(t)
	data := t.TempDir()
	os.Chown(data, 1000, 1000)
	extra := "  write: [" + data + "]\nnetwork:\n  connect:\n    - to: 127.0.0.1:8080/tcp\n"
	// Opening /proc/self/comm with O_CREAT|O_WRONLY asks for two rights Landlock's
	// read-only /proc lacks: two records in one event. The write to data is the allowed
	// twin, which must log nothing.
	c := compile(t, extra, "syscall:321", "write:/proc/self/comm", "connect:127.0.0.1:9", "write:"+data+"/ok")
	pid, _, out := launch(t, c)
	if !strings.Contains(out, `"probe":"write:`+data+`/ok","ok":true`) {
		t.Errorf("the allowed write failed:\n%s", out)
	}
	got := collect(ch, pid, 5*time.Second, func(ds []sandbox.KernelDenial) bool { return len(ds) >= 4 })
	for _, d := range got {
		t.Logf("%s pid=%d comm=%q exe=%q syscall=%d action=%s blockers=%v path=%q daddr=%s dport=%d | %s",
			d.Layer, d.Pid, d.Comm, d.Exe, d.Syscall, d.Action, d.Blockers, d.Path, d.Daddr, d.Dport, d.Raw)
	}
	find := func(what string, match func(d sandbox.KernelDenial) bool) {
		t.Helper()
		if !slices.ContainsFunc(got, match) {
			t.Errorf("no kernel record of %s from pid %d", what, pid)
		}
	}
	find("seccomp errno for bpf", func(d sandbox.KernelDenial) bool {
		return d.Layer == "seccomp" && d.Syscall == 321 && d.Action == "errno" && d.Arch == "c000003e" && d.Exe == probeDir+"/probe"
	})
	find("landlock write_file /proc/self/comm", func(d sandbox.KernelDenial) bool {
		// The path as the sandbox sees it: /proc/self is its own pid 1.
		return d.Layer == "landlock" && slices.Equal(d.Blockers, []string{"fs.write_file"}) && d.Path == "/proc/1/comm" && d.Syscall == 257
	})
	find("landlock make_reg in /proc/1", func(d sandbox.KernelDenial) bool {
		return d.Layer == "landlock" && slices.Equal(d.Blockers, []string{"fs.make_reg"}) && d.Path == "/proc/1" && d.Syscall == 257
	})
	find("landlock connect_tcp 127.0.0.1:9", func(d sandbox.KernelDenial) bool {
		return d.Layer == "landlock" && slices.Equal(d.Blockers, []string{"net.connect_tcp"}) && d.Daddr == "127.0.0.1" && d.Dport == 9 && d.Syscall == 42
	})
	for _, d := range got {
		if d.Layer == "landlock" && strings.HasPrefix(d.Path, data) {
			t.Errorf("an allowed write was logged as denied: %s", d.Raw)
		}
	}
}

// TestKernelAuditLoad sends bursts of 20,000 denials from one sandboxed process and
// counts them. Every seccomp record must arrive: its writer sleeps while the kernel's
// queue is full. Landlock's writer cannot sleep, so past backlog_limit the kernel drops
// its records; then each denial must either arrive or be counted lost, by the kernel's
// counter and by the domain's own count (denials=N when it ends).
func TestKernelAuditLoad(t *testing.T) {
	r, ch := listen(t)
	const n = 20000
	for _, tc := range []struct{ layer, probe, extra string }{
		{"seccomp", "syscall:321", ""},
		{"landlock", "connect:127.0.0.1:9", "network:\n  connect:\n    - to: 127.0.0.1:8080/tcp\n"},
	} {
		before, err := r.Lost()
		if err != nil {
			t.Fatal(err)
		}
		c := compile(t, tc.extra, "repeat:"+strconv.Itoa(n)+"/"+tc.probe)
		start := time.Now()
		pid, _, out := launch(t, c)
		ran := time.Since(start)
		var got int
		var reported uint64
		for d := range quiet(ch, time.Second, 30*time.Second) {
			if d.Pid == pid && d.Layer == tc.layer {
				got++
			}
			reported += d.Lost
		}
		after, err := r.Lost()
		if err != nil {
			t.Fatal(err)
		}
		socket, kernel, domain := after.Socket-before.Socket, after.Kernel-before.Kernel, after.Landlock-before.Landlock
		t.Logf("%s: sent %d in %v, received %d; lost: socket %d (reported on denials %d), kernel %d (host-wide), domain shortfall %d",
			tc.layer, n, ran.Round(time.Millisecond), got, socket, reported, kernel, domain)
		switch {
		case !strings.Contains(out, `"out":"`+strconv.Itoa(n)+`"`):
			t.Errorf("%s: the probe did not finish its burst: %s", tc.layer, out)
		case socket != 0:
			t.Errorf("%s: %d records dropped at the reader's socket", tc.layer, socket)
		case tc.layer == "seccomp" && got != n:
			t.Errorf("seccomp: %d of %d denials arrived", got, n)
		case tc.layer == "landlock" && (uint64(got)+domain != n || kernel < domain):
			t.Errorf("landlock: %d of %d denials arrived, %d counted lost by the domain, %d by the kernel", got, n, domain, kernel)
		}
	}
}

// quiet yields denials until none has come for idle, or max has passed.
func quiet(ch <-chan sandbox.KernelDenial, idle, max time.Duration) func(func(sandbox.KernelDenial) bool) {
	return func(yield func(sandbox.KernelDenial) bool) {
		end := time.After(max)
		for {
			select {
			case d, ok := <-ch:
				if !ok || !yield(d) {
					return
				}
			case <-time.After(idle):
				return
			case <-end:
				return
			}
		}
	}
}
