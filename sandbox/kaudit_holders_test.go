//go:build linux

package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// fakeKernel is struct audit_status as AUDIT_SET changes it, field by mask.
type fakeKernel struct {
	st   auditStatus
	sets int
	fail error
}

func (k *fakeKernel) get() (auditStatus, error) { return k.st, nil }

func (k *fakeKernel) set(s auditStatus) error {
	if k.fail != nil {
		return k.fail
	}
	k.sets++
	for _, f := range auditSettings {
		if s.Mask&f.mask != 0 {
			*f.field(&k.st) = *f.field(&s)
		}
	}
	return nil
}

func fakeHolders(t *testing.T, enabled, backlog uint32) (*auditHolders, *fakeKernel) {
	k := &fakeKernel{st: auditStatus{Enabled: enabled, BacklogLimit: backlog}}
	return &auditHolders{dir: t.TempDir(), get: k.get, set: k.set}, k
}

func (k *fakeKernel) want(t *testing.T, enabled, backlog uint32) {
	t.Helper()
	if k.st.Enabled != enabled || k.st.BacklogLimit != backlog {
		t.Errorf("kernel: enabled %d backlog_limit %d; want %d %d", k.st.Enabled, k.st.BacklogLimit, enabled, backlog)
	}
}

// clean checks that no holder file and no record is left.
func clean(t *testing.T, h *auditHolders) {
	t.Helper()
	entries, _ := os.ReadDir(h.holdersDir())
	if len(entries) > 0 {
		t.Errorf("holder files left: %v", entries)
	}
	if _, err := os.Stat(h.stateFile()); err == nil {
		t.Error("the state file is left")
	}
}

func mustEnable(t *testing.T, h *auditHolders) func() error {
	t.Helper()
	release, err := h.enable()
	if err != nil {
		t.Fatal(err)
	}
	return release
}

// Holders enable and release in any order; only the last release restores.
func TestAuditHoldersAnyOrder(t *testing.T) {
	for _, order := range [][]int{{0, 1, 2}, {2, 1, 0}, {1, 0, 2}} {
		h, k := fakeHolders(t, 0, 64)
		var releases []func() error
		for range 3 {
			releases = append(releases, mustEnable(t, h))
			k.want(t, 1, KernelAuditBacklog)
		}
		if k.sets != 1 {
			t.Errorf("%d AUDIT_SETs for three holders, want 1", k.sets)
		}
		for i, j := range order {
			if err := releases[j](); err != nil {
				t.Fatal(err)
			}
			if i < 2 {
				k.want(t, 1, KernelAuditBacklog)
			}
		}
		k.want(t, 0, 64)
		clean(t, h)
	}
}

// A holder that died without releasing (its lock let go, its file left) is swept, and the
// sweep restores once no live holder is left, not before.
func TestAuditHoldersDeadHolder(t *testing.T) {
	h, k := fakeHolders(t, 0, 64)
	live := mustEnable(t, h)
	unlock, err := h.transition()
	if err != nil {
		t.Fatal(err)
	}
	dead, err := h.addHolder()
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	dead.Close() // SIGKILL: the kernel drops the lock, the file stays
	if err := h.sweep(); err != nil {
		t.Fatal(err)
	}
	k.want(t, 1, KernelAuditBacklog) // live still holds
	if _, err := os.Stat(dead.Name()); err == nil {
		t.Error("the dead holder's file was not removed")
	}
	if err := live(); err != nil {
		t.Fatal(err)
	}
	k.want(t, 0, 64)
	clean(t, h)

	// The last holder dies: the next sweep (down, run) or enable (up) restores.
	for _, next := range []string{"sweep", "enable"} {
		mustEnable(t, h) // never released
		for _, e := range must(os.ReadDir(h.holdersDir())) {
			// The holder's process dies and its lock with it: stand in by replacing
			// its file with an unlocked one of the same name.
			p := filepath.Join(h.holdersDir(), e.Name())
			os.Remove(p)
			os.WriteFile(p, nil, 0o600)
		}
		k.want(t, 1, KernelAuditBacklog)
		switch next {
		case "sweep":
			if err := h.sweep(); err != nil {
				t.Fatal(err)
			}
			k.want(t, 0, 64)
			clean(t, h)
		case "enable":
			release := mustEnable(t, h)
			k.want(t, 1, KernelAuditBacklog)
			if err := release(); err != nil {
				t.Fatal(err)
			}
			k.want(t, 0, 64)
			clean(t, h)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// A setting someone else changed while confine held it stays as they left it; the
// others are put back.
func TestAuditHoldersSomeoneElseChanged(t *testing.T) {
	h, k := fakeHolders(t, 0, 64)
	release := mustEnable(t, h)
	k.st.BacklogLimit = 100000 // an admin's auditctl -b
	if err := release(); err != nil {
		t.Fatal(err)
	}
	k.want(t, 0, 100000)
	clean(t, h)

	// Changed to a value confine must raise again: the admin's value is what goes back.
	release = mustEnable(t, h)
	k.st.BacklogLimit = 1000
	release2 := mustEnable(t, h)
	k.want(t, 1, KernelAuditBacklog)
	release()
	release2()
	k.want(t, 0, 1000)
	clean(t, h)

	// Audit turned off by someone else, then on again by a second holder.
	release = mustEnable(t, h)
	k.st.Enabled = 0
	release2 = mustEnable(t, h)
	release()
	k.want(t, 1, KernelAuditBacklog)
	release2()
	k.want(t, 0, 1000)
	clean(t, h)
}

// Nothing to change (on already with a large backlog, unlimited, or locked): no
// AUDIT_SET, no record, and a release changes nothing either.
func TestAuditHoldersNothingToChange(t *testing.T) {
	for _, st := range []auditStatus{{Enabled: 1, BacklogLimit: 10000}, {Enabled: 1, BacklogLimit: 0}, {Enabled: 2, BacklogLimit: 64}} {
		h, k := fakeHolders(t, st.Enabled, st.BacklogLimit)
		release := mustEnable(t, h)
		if _, err := os.Stat(h.stateFile()); err == nil || k.sets != 0 {
			t.Errorf("%+v: %d AUDIT_SETs, state recorded: %v", st, k.sets, err == nil)
		}
		release()
		k.want(t, st.Enabled, st.BacklogLimit)
		clean(t, h)
	}
	// On with a small backlog: only the backlog is recorded and put back.
	h, k := fakeHolders(t, 1, 64)
	release := mustEnable(t, h)
	k.want(t, 1, KernelAuditBacklog)
	st, _ := h.readState()
	if _, ok := st["enabled"]; ok || st["backlog_limit"] != (auditChange{Found: 64, Wrote: KernelAuditBacklog}) {
		t.Errorf("recorded %v", st)
	}
	release()
	k.want(t, 1, 64)
}

// A failing AUDIT_SET leaves no holder and no record.
func TestAuditHoldersSetFails(t *testing.T) {
	h, k := fakeHolders(t, 0, 64)
	k.fail = unix.EPERM
	if _, err := h.enable(); !errors.Is(err, unix.EPERM) {
		t.Fatalf("enable: %v, want EPERM", err)
	}
	k.want(t, 0, 64)
	clean(t, h)
}

// A sweep with nothing registered makes nothing, not even the directory.
func TestAuditHoldersSweepEmpty(t *testing.T) {
	h, k := fakeHolders(t, 0, 64)
	h.dir = filepath.Join(h.dir, "absent")
	if err := h.sweep(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(h.dir); err == nil || k.sets != 0 {
		t.Errorf("a sweep of nothing made %s or set the kernel (%d)", h.dir, k.sets)
	}
}

// An older supervisor's shared hold of the legacy lock counts as a live holder, seen in
// /proc/locks without taking the lock.
func TestAuditHoldersLegacy(t *testing.T) {
	h, k := fakeHolders(t, 0, 64)
	h.legacy = filepath.Join(t.TempDir(), "kernel-audit.lock")
	f, err := os.Create(h.legacy)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if flockHeld(h.legacy) {
		t.Fatal("an unlocked file reads as held")
	}
	if err := flock(f, unix.LOCK_SH); err != nil {
		t.Fatal(err)
	}
	if !flockHeld(h.legacy) {
		t.Fatal("a shared lock is not seen in /proc/locks")
	}
	release := mustEnable(t, h)
	release()
	k.want(t, 1, KernelAuditBacklog) // the older supervisor still needs it
	flock(f, unix.LOCK_UN)
	if err := h.sweep(); err != nil {
		t.Fatal(err)
	}
	k.want(t, 0, 64)
	clean(t, h)
}

// What a killed older supervisor recorded in the legacy lock is adopted and put back by
// the next sweep: only the settings its mask names, and only if they still hold what it
// wrote.
func TestAuditHoldersAdoptLegacy(t *testing.T) {
	cases := []struct {
		record               string
		enabled, backlog     uint32 // the kernel as the older supervisor left it
		wantEnabled, wantLim uint32
	}{
		{"17 0 64\n", 1, KernelAuditBacklog, 0, 64},
		{"1 0 64\n", 1, KernelAuditBacklog, 0, KernelAuditBacklog},
		{"17 0 64\n", 1, 500, 0, 500}, // someone else set the backlog since
		{"", 1, KernelAuditBacklog, 1, KernelAuditBacklog},
	}
	legacy := func(t *testing.T, h *auditHolders, record string) {
		h.legacy = filepath.Join(t.TempDir(), "kernel-audit.lock")
		os.WriteFile(h.legacy, []byte(record), 0o600)
	}
	for _, c := range cases {
		// A sweep (down, run) alone adopts and restores.
		h, k := fakeHolders(t, c.enabled, c.backlog)
		legacy(t, h, c.record)
		if err := h.sweep(); err != nil {
			t.Fatal(err)
		}
		k.want(t, c.wantEnabled, c.wantLim)
		clean(t, h)

		// An up adopts, and its release restores.
		h, k = fakeHolders(t, c.enabled, c.backlog)
		legacy(t, h, c.record)
		release := mustEnable(t, h)
		k.want(t, 1, max(c.backlog, KernelAuditBacklog))
		if data, _ := os.ReadFile(h.legacy); len(data) != 0 {
			t.Errorf("%q: the legacy record is still there: %q", c.record, data)
		}
		release()
		k.want(t, c.wantEnabled, c.wantLim)
		clean(t, h)
	}
}

// BenchmarkAuditSweep is what `confine run` and `down` pay beside their work: with no
// holder, and with 16 live ones (each stack's supervisor).
func BenchmarkAuditSweep(b *testing.B) {
	for _, n := range []int{0, 16} {
		b.Run(fmt.Sprintf("holders=%d", n), func(b *testing.B) {
			k := &fakeKernel{st: auditStatus{Enabled: 0, BacklogLimit: 64}}
			h := &auditHolders{dir: b.TempDir(), get: k.get, set: k.set}
			for range n {
				release, err := h.enable()
				if err != nil {
					b.Fatal(err)
				}
				defer release()
			}
			b.ResetTimer()
			for range b.N {
				if err := h.sweep(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
