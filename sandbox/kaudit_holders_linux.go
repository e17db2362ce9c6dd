package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// The kernel's audit settings are host-wide, and any number of confine processes
// (supervisors, runs, tests) need them at once. The model is Nix's garbage-collector
// roots (src/libstore/gc.cc): each holder locks a file of its own for its whole life, so
// a lock that can be taken shows a holder that died, even by SIGKILL; one more lock
// serialises the brief transitions (enable, release, sweep) and is never held longer.
// What confine found and wrote is in a state file, put back when the last holder is gone,
// setting by setting, only where the kernel still holds the value confine wrote. There is
// no counter: it would drift after a crash.
const kernelAuditDir = "/run/confine/kernel-audit"

// auditHolders is the registry in dir; kernel reads and writes the audit status, so
// that tests can fake it.
type auditHolders struct {
	dir    string
	legacy string // "" for none
	get    func() (auditStatus, error)
	set    func(auditStatus) error
}

var hostAudit = &auditHolders{dir: kernelAuditDir, legacy: legacyAuditLock, get: getAuditStatus, set: setAuditStatus}

// auditSetting is one field of struct audit_status confine may change.
type auditSetting struct {
	name  string
	mask  uint32
	field func(*auditStatus) *uint32
	// need is the value confine needs when st's will not do.
	need func(st auditStatus) (uint32, bool)
}

var auditSettings = []auditSetting{
	{"enabled", unix.AUDIT_STATUS_ENABLED, func(s *auditStatus) *uint32 { return &s.Enabled },
		// Landlock logs nothing at 0; at 2 (locked) nothing can be changed.
		func(st auditStatus) (uint32, bool) { return 1, st.Enabled == 0 }},
	{"backlog_limit", unix.AUDIT_STATUS_BACKLOG_LIMIT, func(s *auditStatus) *uint32 { return &s.BacklogLimit },
		func(st auditStatus) (uint32, bool) {
			return KernelAuditBacklog, st.Enabled != 2 && st.BacklogLimit != 0 && st.BacklogLimit < KernelAuditBacklog
		}},
}

// auditChange is what confine found in one setting and what it wrote there.
type auditChange struct {
	Found uint32 `json:"found"`
	Wrote uint32 `json:"wrote"`
}

// auditState is the state file: the settings confine changed, by name.
type auditState map[string]auditChange

func (h *auditHolders) holdersDir() string { return filepath.Join(h.dir, "holders") }
func (h *auditHolders) stateFile() string  { return filepath.Join(h.dir, "state.json") }

// enable registers a holder and makes the kernel's settings what confine needs. The
// returned release unregisters it, and restores when it was the last.
func (h *auditHolders) enable() (release func() error, err error) {
	unlock, err := h.transition()
	if err != nil {
		return nil, err
	}
	defer unlock()
	// What a crashed last holder left goes back first, so that what is found now is
	// the host's own state.
	if err := h.sweepLocked(); err != nil {
		return nil, err
	}
	holder, err := h.addHolder()
	if err != nil {
		return nil, err
	}
	if err := h.apply(); err != nil {
		removeHolder(holder)
		return nil, errors.Join(err, h.sweepLocked())
	}
	var done bool
	return func() error {
		if done {
			return nil
		}
		done = true
		unlock, err := h.transition()
		if err != nil {
			holder.Close() // unlocks: the next sweep removes it
			return err
		}
		defer unlock()
		removeHolder(holder)
		return h.sweepLocked()
	}, nil
}

// sweep removes the holders of dead processes and restores when no live one is left.
// Without holders, state or an older confine's record it takes no lock.
func (h *auditHolders) sweep() error {
	entries, err := os.ReadDir(h.holdersDir())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	_, serr := os.Stat(h.stateFile())
	legacy, lerr := os.Stat(h.legacy)
	if len(entries) == 0 && errors.Is(serr, fs.ErrNotExist) && (lerr != nil || legacy.Size() == 0) {
		return nil
	}
	unlock, err := h.transition()
	if err != nil {
		return err
	}
	defer unlock()
	return h.sweepLocked()
}

// sweepLocked is sweep under the transition lock.
func (h *auditHolders) sweepLocked() error {
	live, err := h.liveHolders()
	if err != nil || live > 0 {
		return err
	}
	return h.restore()
}

// transition takes the lock that serialises enables, releases and sweeps. Each holds
// it for a few AUDIT_GET/SET round trips and file operations, never longer.
func (h *auditHolders) transition() (unlock func(), err error) {
	if err := os.MkdirAll(h.holdersDir(), 0o700); err != nil {
		return nil, fmt.Errorf("kaudit: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(h.dir, "transition.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("kaudit: %w", err)
	}
	if err := flock(f, unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("kaudit: %s: %w", f.Name(), err)
	}
	return func() { f.Close() }, nil
}

// addHolder makes and locks this process's holder file, named PID-STARTTIME-N.lock
// for whoever reads the directory; it is locked before any sweep can see it, since
// sweeps take the transition lock too.
func (h *auditHolders) addHolder() (*os.File, error) {
	_, started := ProcStat(os.Getpid())
	f, err := os.CreateTemp(h.holdersDir(), fmt.Sprintf("%d-%s-*.lock", os.Getpid(), started))
	if err != nil {
		return nil, fmt.Errorf("kaudit: %w", err)
	}
	if err := flock(f, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		os.Remove(f.Name())
		f.Close()
		return nil, fmt.Errorf("kaudit: %s: %w", f.Name(), err)
	}
	return f, nil
}

// removeHolder unlinks the holder's file while still holding it, then unlocks.
func removeHolder(f *os.File) {
	os.Remove(f.Name())
	f.Close()
}

// liveHolders counts the holders whose lock is held, and removes the others: a holder
// file whose lock can be taken belongs to a process that has died. An older
// supervisor's shared hold of legacyAuditLock counts as one.
func (h *auditHolders) liveHolders() (int, error) {
	entries, err := os.ReadDir(h.holdersDir())
	if err != nil {
		return 0, fmt.Errorf("kaudit: %w", err)
	}
	live := 0
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".lock") {
			continue
		}
		path := filepath.Join(h.holdersDir(), e.Name())
		f, err := os.Open(path)
		if err != nil {
			continue // removed by its owner meanwhile
		}
		if flock(f, unix.LOCK_EX|unix.LOCK_NB) == nil {
			os.Remove(path) // dead; under the lock, so no one recreates it meanwhile
		} else {
			live++
		}
		f.Close()
	}
	if h.legacy != "" {
		if flockHeld(h.legacy) {
			live++
		} else if err := h.adoptLegacy(); err != nil {
			return 0, err
		}
	}
	return live, nil
}

// apply records and sets what the kernel's status lacks. The record is written before
// AUDIT_SET, so that a crash between leaves nothing unrecorded.
func (h *auditHolders) apply() error {
	st, err := h.get()
	if err != nil {
		return err
	}
	saved, err := h.readState()
	if err != nil {
		return err
	}
	next := auditState{}
	for k, v := range saved {
		next[k] = v
	}
	var set auditStatus
	for _, s := range auditSettings {
		cur := *s.field(&st)
		c, ok := next[s.name]
		if ok && c.Wrote != cur {
			delete(next, s.name) // someone else changed it since: it is theirs now
			ok = false
		}
		v, need := s.need(st)
		if !need {
			continue
		}
		if !ok {
			c = auditChange{Found: cur}
		}
		c.Wrote = v
		next[s.name] = c
		set.Mask |= s.mask
		*s.field(&set) = v
	}
	if set.Mask == 0 {
		if !sameState(next, saved) {
			return h.writeState(next)
		}
		return nil
	}
	if err := h.writeState(next); err != nil {
		return err
	}
	if err := h.set(set); err != nil {
		return errors.Join(err, h.writeState(saved))
	}
	return nil
}

// restore puts back each recorded setting that still holds the value confine wrote, and
// removes the record.
func (h *auditHolders) restore() error {
	saved, err := h.readState()
	if err != nil || len(saved) == 0 {
		return err
	}
	st, err := h.get()
	if err != nil {
		return err
	}
	var set auditStatus
	for _, s := range auditSettings {
		c, ok := saved[s.name]
		if ok && *s.field(&st) == c.Wrote && c.Found != c.Wrote {
			set.Mask |= s.mask
			*s.field(&set) = c.Found
		}
	}
	if set.Mask != 0 {
		if err := h.set(set); err != nil {
			return err
		}
	}
	if err := os.Remove(h.stateFile()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("kaudit: %w", err)
	}
	return nil
}

func sameState(a, b auditState) bool {
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return len(a) == len(b)
}

func (h *auditHolders) readState() (auditState, error) {
	data, err := os.ReadFile(h.stateFile())
	if errors.Is(err, fs.ErrNotExist) {
		return auditState{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("kaudit: %w", err)
	}
	st := auditState{}
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("kaudit: %s: unreadable state: %w", h.stateFile(), err)
	}
	return st, nil
}

// writeState replaces the state file in one rename, or removes it when st is empty.
func (h *auditHolders) writeState(st auditState) error {
	if len(st) == 0 {
		if err := os.Remove(h.stateFile()); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("kaudit: %w", err)
		}
		return nil
	}
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	tmp := h.stateFile() + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("kaudit: %w", err)
	}
	if err := os.Rename(tmp, h.stateFile()); err != nil {
		return fmt.Errorf("kaudit: %w", err)
	}
	return nil
}

func flock(f *os.File, how int) error {
	for {
		err := unix.Flock(int(f.Fd()), how)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}
