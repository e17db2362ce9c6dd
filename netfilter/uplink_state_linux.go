package netfilter

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// The uplinks of one host namespace keep their state under UplinkDir/<namespace cookie>,
// so that confine run inside a test's namespace never touches the records of the real
// host's: slot-N files allocate the /30s, NAME.json records what stack NAME made, and
// NAME.holder is locked by its supervisor for its whole life (Nix's GC-roots model, as
// sandbox/kaudit_holders_linux.go does for the kernel audit): a lock that can be taken
// shows a supervisor that died, whose uplink the next command removes. sysctls.json
// holds the host settings confine changed: what it found and what it wrote, put back
// when no stack holds them any more, only where the kernel still holds what confine
// wrote. The lock file serialises the brief transitions, never a stack's life.
const UplinkDir = "/run/confine/uplinks"

// uplinkRecord is what one stack's uplink changed in the host namespace.
type uplinkRecord struct {
	Stack string `json:"stack"`
	Slot  int    `json:"slot"`
	Link  string `json:"link"`
	Table string `json:"table"`
	// Sysctls are the shared settings (keys of sysctls.json) this stack needs.
	Sysctls []string `json:"sysctls,omitempty"`
}

// sysctlChange is what confine found in a setting and what it wrote there.
type sysctlChange struct {
	Found string `json:"found"`
	Wrote string `json:"wrote"`
}

// hostState is the state directory of the calling process's network namespace, made
// when create is set. It is named by the namespace's cookie, which the kernel never
// reuses (an inode number is reused as soon as a namespace is gone, and a dead test
// namespace's records would then be taken for the new one's).
func hostState(create bool) (string, error) {
	id, err := netnsCookie()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(UplinkDir, id)
	if !create {
		return dir, nil
	}
	return dir, os.MkdirAll(dir, 0o700)
}

// netnsCookie is SO_NETNS_COOKIE of a socket made in the calling thread's namespace
// (Linux 5.14), or the namespace's inode on older kernels.
func netnsCookie() (string, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return "", err
	}
	defer unix.Close(fd)
	if c, err := unix.GetsockoptUint64(fd, unix.SOL_SOCKET, unix.SO_NETNS_COOKIE); err == nil {
		return fmt.Sprintf("cookie-%d", c), nil
	}
	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
		return "", err
	}
	return fmt.Sprintf("ino-%d", st.Ino), nil
}

// transition takes the directory's lock for one brief change.
func transition(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}

// takeHolder locks stack's holder file; the returned file keeps the lock until closed
// (or until the process dies).
func takeHolder(dir, stack string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, stack+".holder"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("uplink of stack %s: another live supervisor holds it", stack)
	}
	return f, nil
}

// allocSlot claims the first free /30 of the pool.
func allocSlot(dir, stack string, slots int) (int, error) {
	for i := 0; i < slots; i++ {
		f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("slot-%d", i)), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return 0, err
		}
		f.WriteString(stack + "\n")
		f.Close()
		return i, nil
	}
	return 0, fmt.Errorf("uplink: all %d subnets of the pool %s are taken", slots, uplinkPool())
}

func writeRecord(dir string, r *uplinkRecord) error {
	data, _ := json.Marshal(r)
	tmp := filepath.Join(dir, r.Stack+".json.tmp")
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, r.Stack+".json"))
}

func readRecord(dir, stack string) (*uplinkRecord, error) {
	data, err := os.ReadFile(filepath.Join(dir, stack+".json"))
	if err != nil {
		return nil, err
	}
	var r uplinkRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s.json: %w", stack, err)
	}
	return &r, nil
}

func readSysctls(dir string) (map[string]sysctlChange, error) {
	m := map[string]sysctlChange{}
	data, err := os.ReadFile(filepath.Join(dir, "sysctls.json"))
	if errors.Is(err, os.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return nil, err
	}
	return m, json.Unmarshal(data, &m)
}

func writeSysctls(dir string, m map[string]sysctlChange) error {
	if len(m) == 0 {
		err := os.Remove(filepath.Join(dir, "sysctls.json"))
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	data, _ := json.Marshal(m)
	tmp := filepath.Join(dir, "sysctls.json.tmp")
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, "sysctls.json"))
}

// sysctlPath turns net.ipv4.conf.eth0.forwarding into its /proc/sys path; the link
// name may hold dots, so the key is split around it.
func sysctlPath(key string) string {
	if rest, ok := strings.CutPrefix(key, "net.ipv4.conf."); ok {
		if link, leaf, ok := cutLast(rest, "."); ok {
			return "/proc/sys/net/ipv4/conf/" + link + "/" + leaf
		}
	}
	return "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
}

func cutLast(s, sep string) (string, string, bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

func readSysctl(key string) (string, error) {
	data, err := os.ReadFile(sysctlPath(key))
	return strings.TrimSpace(string(data)), err
}

func writeSysctl(key, value string) error {
	return os.WriteFile(sysctlPath(key), []byte(value), 0)
}

// holdSysctls sets each key to want for rec's stack, under the transition lock: a key
// already at want that confine did not change is left out (it is the host's own); a key
// confine changed for another stack is shared.
func holdSysctls(dir string, rec *uplinkRecord, keys []string, want string) error {
	saved, err := readSysctls(dir)
	if err != nil {
		return err
	}
	for _, k := range keys {
		now, err := readSysctl(k)
		if err != nil {
			return fmt.Errorf("sysctl %s: %w", k, err)
		}
		if _, ours := saved[k]; !ours {
			if now == want {
				continue
			}
			saved[k] = sysctlChange{Found: now, Wrote: want}
			// Recorded before it is written: a crash in between leaves a record the
			// sweep puts back, never a change without one.
			if err := writeSysctls(dir, saved); err != nil {
				return err
			}
		}
		if now != want {
			if err := writeSysctl(k, want); err != nil {
				return fmt.Errorf("sysctl %s=%s: %w", k, want, err)
			}
		}
		rec.Sysctls = append(rec.Sysctls, k)
		if err := writeRecord(dir, rec); err != nil {
			return err
		}
	}
	return writeSysctls(dir, saved)
}

// releaseSysctls puts back every recorded setting no remaining record holds, where the
// kernel still holds what confine wrote (someone else changed it otherwise: theirs).
func releaseSysctls(dir string) error {
	saved, err := readSysctls(dir)
	if err != nil || len(saved) == 0 {
		return err
	}
	held := map[string]bool{}
	recs, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	for _, path := range recs {
		if filepath.Base(path) == "sysctls.json" {
			continue
		}
		if r, err := readRecord(dir, strings.TrimSuffix(filepath.Base(path), ".json")); err == nil {
			for _, k := range r.Sysctls {
				held[k] = true
			}
		}
	}
	var errs []error
	for k, c := range saved {
		if held[k] {
			continue
		}
		now, err := readSysctl(k)
		if err == nil && now == c.Wrote {
			err = writeSysctl(k, c.Found)
		}
		if err != nil && !errors.Is(err, os.ErrNotExist) { // a link that is gone took it along
			errs = append(errs, fmt.Errorf("putting back sysctl %s=%s: %w", k, c.Found, err))
			continue
		}
		delete(saved, k)
	}
	if err := writeSysctls(dir, saved); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
