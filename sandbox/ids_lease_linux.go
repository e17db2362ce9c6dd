package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// maxSlots bounds how many lone runs of one component hold ranges at once.
const maxSlots = 256

// leaseTable is what this process holds of a store: one slot per lone-run key, its lock
// open (and so held) until the process exits.
type leaseTable struct {
	mu    sync.Mutex
	held  map[string]string // store/key → the slot held
	files []*os.File
}

var hostLeases = &leaseTable{held: map[string]string{}}

// leaseFor is the range a lone run of key uses while it runs. Slot 1 is key's own
// record, slot N (N ≥ 2) the record "key+N" ('+' is in no name, so no stack's key
// meets it). Each slot has a lock file, .run-SLOT.lock, that the holding process keeps
// flocked for its life: a lock per range, never the store's. A run takes the first slot
// whose lock is free, so runs one after another get slot 1, the component's recorded
// range, again; a run beside them gets one of its own, recorded too, so that its write
// paths keep their owners the next time two run at once. A process keeps its slot for
// every later start of key (a restart is not a second run).
// A lone run's slot record is never removed by confine, like every other record.
func (st idStore) leaseFor(key string) (idRange, error) {
	t := st.leases
	if t == nil {
		t = hostLeases
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	id := filepath.Join(st.dir, key)
	if slot, ok := t.held[id]; ok {
		return st.keyRange(slot) // read again: the record may have been removed or moved
	}
	if err := os.MkdirAll(st.dir, 0o700); err != nil {
		return idRange{}, fmt.Errorf("id ranges: %w", err)
	}
	for n := 1; n <= maxSlots; n++ {
		slot := key
		if n > 1 {
			slot = key + "+" + strconv.Itoa(n)
		}
		f, err := openLock(filepath.Join(st.dir, ".run-"+slot+".lock"))
		if err != nil {
			return idRange{}, fmt.Errorf("id ranges: %w", err)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			f.Close()
			if errors.Is(err, unix.EWOULDBLOCK) {
				continue // another run holds this slot
			}
			return idRange{}, fmt.Errorf("id ranges: locking %s: %w", f.Name(), err)
		}
		r, err := st.keyRange(slot)
		if err != nil {
			f.Close()
			return idRange{}, err
		}
		t.held[id] = slot
		t.files = append(t.files, f) // held open: the lock lasts as long as the process
		return r, nil
	}
	return idRange{}, fmt.Errorf("id ranges: %d lone runs of %s hold ranges at once", maxSlots, key)
}

// allocates: rangeFor would make something lasting for the component, its first start's
// lock and record (and maybe confine's reservations). A lone run's slot 1 is key's
// record; a run beside it may still record a slot of its own.
func (st idStore) allocates(stack, component string) bool {
	key, err := idKey(stack, component)
	if err != nil {
		return false // rangeFor says so
	}
	return unix.Access(filepath.Join(st.dir, key), unix.F_OK) != nil
}

// openLock opens (or makes) a lock file as os.OpenFile(O_CREATE|O_RDWR, 0600) does, without
// its poller registration: five system calls fewer on every lone run's path.
func openLock(path string) (*os.File, error) {
	fd, err := unix.Open(path, unix.O_CREAT|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}
