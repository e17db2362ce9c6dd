package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/policy/plan"
)

// fdIDs carries, close-on-exec, the ids resolveUser found for run.user's names, as JSON:
// the parent reads them once exec closed it (Sandbox.IDs), for the start record and ps.
const fdIDs = 7

// resolvedIDs is the message on fdIDs.
type resolvedIDs struct {
	UID uint32 `json:"uid"`
	GID uint32 `json:"gid"`
}

// passwdEntry is the part of a passwd(5) line that resolveUser reads.
type passwdEntry struct{ uid, gid int }

// resolveUser turns run.user's names into ids, after pivot_root and before the identity
// changes, from the sandbox's own /etc/passwd and /etc/group (the image's, or the host's
// when the policy binds them), parsed here rather than through NSS, as resolveGroups
// does. A named user without a group takes its primary group. A name that does not
// resolve, or an id outside the component's range, fails closed.
func resolveUser(cfg *initConfig) error {
	p := &cfg.Component.Process
	if p.User == "" && p.Group == "" {
		return nil
	}
	if p.User != "" {
		users, err := readPasswdFile("/etc/passwd")
		if err != nil {
			return lookupFailed("run.user", p.User, "/etc/passwd", cfg, err)
		}
		e, ok := users[p.User]
		if !ok {
			return errNoUser(p.User)
		}
		p.UID = uint32(e.uid)
		if p.Group == "" {
			p.GID = uint32(e.gid)
		}
	}
	if p.Group != "" {
		groups, err := readGroupFile("/etc/group")
		if err != nil {
			return lookupFailed("run.user", p.Group, "/etc/group", cfg, err)
		}
		id, ok := groups[p.Group]
		if !ok {
			return errNoGroup("run.user", p.Group)
		}
		p.GID = uint32(id)
	}
	if p.UID >= RangeSize || p.GID >= RangeSize {
		return errUserRange(*p)
	}
	if err := giveMade(cfg); err != nil {
		return err
	}
	data, _ := json.Marshal(resolvedIDs{p.UID, p.GID})
	_, err := unix.Write(fdIDs, data)
	return err
}

// The Go init's errors for run.user, which the C stage's OP_USER failures are worded as
// (render_user_linux.go).
// giveMade gives the write paths mountUpper made to the ids resolved: each directory it
// made and held, not what its path names by now (a volume's other writers may have put
// another there); a path not held (the C stage's render) by give.
func giveMade(cfg *initConfig) error {
	p := &cfg.Component.Process
	for i, dir := range cfg.chownLater {
		var err error
		if i < len(cfg.chownHeld) && cfg.chownHeld[i] >= 0 {
			if err = unix.Fchownat(cfg.chownHeld[i], "", int(p.UID), int(p.GID), unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW); err != nil {
				err = &fs.PathError{Op: "lchown", Path: dir, Err: err}
			}
		} else {
			err = give(dir, int(p.UID), int(p.GID))
		}
		if err != nil {
			return errGiving(dir, *p, err)
		}
	}
	return nil
}

func errNoUser(name string) error {
	return fmt.Errorf("run.user: no user %q in the sandbox's /etc/passwd", name)
}

func errNoGroup(field, name string) error {
	return fmt.Errorf("%s: no group %q in the sandbox's /etc/group", field, name)
}

func errUserRange(p plan.Process) error {
	return fmt.Errorf("run.user: %s is uid %d, gid %d, outside the component's ids 0-%d", userSpec(p), p.UID, p.GID, RangeSize-1)
}

func errGiving(dir string, p plan.Process, err error) error {
	return fmt.Errorf("giving %s to %s: %w", dir, userSpec(p), err)
}

// lookupFailed says why a name could not be looked up, with the remedy when the host-view
// sandbox simply lacks the file.
func lookupFailed(field, name, file string, cfg *initConfig, err error) error {
	if errors.Is(err, fs.ErrNotExist) && cfg.Component.Process.Rootfs == "" && cfg.Component.Image == nil {
		return fmt.Errorf("%s: resolving %q: the sandbox has no %s; list %s under filesystem.read (or extend host-runtime), or give the number", field, name, file, file)
	}
	return fmt.Errorf("%s: resolving %q: %w", field, name, err)
}

// userSpec is run.user as written, for messages.
func userSpec(p plan.Process) string {
	u, g := p.User, p.Group
	if u == "" {
		u = strconv.Itoa(int(p.UID))
	}
	if g == "" {
		return u
	}
	return u + ":" + g
}

// readPasswdFile parses passwd(5) lines NAME:PASSWORD:UID:GID:…; the first line for a
// name wins, as getpwnam(3) does (scanIDFile bounds what is read).
func readPasswdFile(path string) (map[string]passwdEntry, error) {
	table := map[string]passwdEntry{}
	err := scanIDFile(path, 4, func(fields []string) {
		uid, err1 := strconv.ParseUint(fields[2], 10, 32)
		gid, err2 := strconv.ParseUint(fields[3], 10, 32)
		if _, dup := table[fields[0]]; err1 == nil && err2 == nil && !dup {
			table[fields[0]] = passwdEntry{int(uid), int(gid)}
		}
	})
	return table, err
}

// readIDs takes the ids the init stage resolved for run.user's names, if it had any to
// resolve; exec has closed its end.
func (s *Sandbox) readIDs() error {
	data, err := io.ReadAll(s.idsPipe)
	s.idsPipe.Close()
	s.idsPipe = nil
	if err != nil || len(data) == 0 {
		return err
	}
	var ids resolvedIDs
	if err := json.Unmarshal(data, &ids); err != nil {
		return fmt.Errorf("init stage: resolved ids %q: %w", data, err)
	}
	s.uid, s.gid = ids.UID, ids.GID
	return nil
}

// IDs is the component's uid and gid inside its user namespace: the Plan's numbers, or,
// after Go, what run.user's names resolved to in the sandbox.
func (s *Sandbox) IDs() (uid, gid uint32) { return s.uid, s.gid }
