package sandbox

import (
	"bufio"
	"io/fs"
	"strconv"

	"github.com/confine-sandbox/confine/sandbox/stage"
)

// How OP_GROUPS and OP_USER fail (stage_user.h): the sandbox's file could not be read
// (as scanIDFile could not), no line for the name, an id outside the range, an lchown,
// the write of the ids.
const (
	idFailOpen = 1 + iota
	idFailNotRegular
	idFailRead
	idFailTooLong
	idFailNoName
	idFailRange
	idFailChown
	idFailWrite
)

// renderGroups resolves run.groups' numbers here, into OP_CAPS's ints; its names become
// OP_GROUPS, which reads the sandbox's /etc/group after pivot_root as resolveGroups does.
func renderGroups(cfg *initConfig, p *stage.Program) error {
	var names []string
	for _, n := range cfg.Component.Process.Groups {
		id, err := strconv.ParseUint(n, 10, 32)
		if err != nil {
			names = append(names, n)
			continue
		}
		if id >= RangeSize {
			return errGoInit // the Go init words it once the names resolved
		}
		cfg.groups = append(cfg.groups, int(id))
	}
	if len(names) == 0 {
		return nil
	}
	p.Add(stage.OpGroups, []uint64{RangeSize}, names, func(e stage.Error) string {
		i := int(uint32(e.Aux))
		if i >= len(names) {
			return e.Cause()
		}
		switch e.Kind {
		case idFailNoName:
			return errNoGroup("run.groups", names[i]).Error()
		case idFailRange:
			return errGroupRange(names[i], int(e.Aux>>32)).Error()
		}
		return groupLookupFailed(names[i], cfg, idFileError(e, "/etc/group")).Error()
	})
	return nil
}

// renderUser: run.user's names become OP_USER, which reads the sandbox's /etc/passwd and
// /etc/group as resolveUser does, gives cfg.chownLater's paths to the ids, and hands them
// to OP_CAPS and to the parent (fdIDs); numeric ids need no op.
func renderUser(cfg *initConfig, p *stage.Program) error {
	proc := cfg.Component.Process
	if proc.User == "" && proc.Group == "" {
		return nil
	}
	strs := append([]string{proc.User, proc.Group}, cfg.chownLater...)
	chown := cfg.chownLater
	p.Add(stage.OpUser, []uint64{uint64(proc.UID), uint64(proc.GID), RangeSize}, strs, func(e stage.Error) string {
		switch e.Kind {
		case idFailNoName:
			if e.Aux == 1 {
				return errNoGroup("run.user", proc.Group).Error()
			}
			return errNoUser(proc.User).Error()
		case idFailRange:
			q := proc
			q.UID, q.GID = uint32(e.Aux>>32), uint32(e.Aux)
			return errUserRange(q).Error()
		case idFailChown:
			if i := int(e.Aux); i < len(chown) {
				return errGiving(chown[i], proc, &fs.PathError{Op: "lchown", Path: chown[i], Err: e.Errno}).Error()
			}
		case idFailWrite:
			return e.Errno.Error()
		}
		name, file := proc.User, "/etc/passwd"
		if e.Aux == 1 {
			name, file = proc.Group, "/etc/group"
		}
		return lookupFailed("run.user", name, file, cfg, idFileError(e, file)).Error()
	})
	return nil
}

// idFileError is the error scanIDFile returns for the way the stage could not read path.
func idFileError(e stage.Error, path string) error {
	switch e.Kind {
	case idFailOpen:
		return &fs.PathError{Op: "open", Path: path, Err: e.Errno}
	case idFailNotRegular:
		return errNotRegular(path)
	case idFailTooLong:
		return bufio.ErrTooLong
	}
	return &fs.PathError{Op: "read", Path: path, Err: e.Errno}
}
