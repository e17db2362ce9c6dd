package sandbox

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// maxGroupFile bounds what resolveGroups reads of the sandbox's /etc/group: the file is
// the image's, untrusted.
const maxGroupFile = 1 << 20

// resolveGroups turns run.groups into gids, after pivot_root and before the identity
// changes: numbers as written, names from the sandbox's own /etc/group (the image's, or
// the host's when the policy binds it), parsed here rather than through NSS, which
// would load the image's libraries into the init stage. A name that does not resolve,
// or a gid outside the component's range, fails closed.
func resolveGroups(cfg *initConfig) error {
	names := cfg.Component.Process.Groups
	if len(names) == 0 {
		return nil
	}
	if cfg.Rootless {
		return fmt.Errorf("run.groups %v: supplementary groups need root (without it, setgroups(2) is denied in the user namespace)", names)
	}
	var table map[string]int
	for _, n := range names {
		if id, err := strconv.ParseUint(n, 10, 32); err == nil {
			cfg.groups = append(cfg.groups, int(id))
			continue
		}
		if table == nil {
			var err error
			if table, err = readGroupFile("/etc/group"); err != nil {
				return groupLookupFailed(n, cfg, err)
			}
		}
		id, ok := table[n]
		if !ok {
			return errNoGroup("run.groups", n)
		}
		cfg.groups = append(cfg.groups, id)
	}
	for i, id := range cfg.groups {
		if id >= RangeSize {
			return errGroupRange(names[i], id)
		}
	}
	return nil
}

// groupLookupFailed says why /etc/group could not be read for name, with the remedy
// when the host-view sandbox simply lacks it (a rootfs's or an image's lack is its own).
func groupLookupFailed(name string, cfg *initConfig, err error) error {
	if errors.Is(err, fs.ErrNotExist) && cfg.Component.Process.Rootfs == "" && cfg.Component.Image == nil {
		return fmt.Errorf("run.groups: resolving %q: the sandbox has no /etc/group; list /etc/group under filesystem.read, or give the gid", name)
	}
	return fmt.Errorf("run.groups: resolving %q: %w", name, err)
}

func errGroupRange(name string, id int) error {
	return fmt.Errorf("run.groups: %s is gid %d, outside the component's ids 0-%d", name, id, RangeSize-1)
}

// readGroupFile parses group(5) lines NAME:PASSWORD:GID:MEMBERS; the first line for a
// name wins, as getgrnam(3) does.
func readGroupFile(path string) (map[string]int, error) {
	table := map[string]int{}
	err := scanIDFile(path, 3, func(fields []string) {
		id, err := strconv.ParseUint(fields[2], 10, 32)
		if _, dup := table[fields[0]]; err == nil && !dup {
			table[fields[0]] = int(id)
		}
	})
	return table, err
}

// scanIDFile calls line with the colon-separated fields of each line of a passwd(5) or
// group(5) file that has at least n. The file is the sandbox's, untrusted: only a
// regular file (a FIFO would block), not through a last symlink, and only maxGroupFile
// bytes of it, are read.
func scanIDFile(path string, n int, line func(fields []string)) error {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return errNotRegular(path)
	}
	sc := bufio.NewScanner(io.LimitReader(f, maxGroupFile))
	for sc.Scan() {
		if fields := strings.Split(sc.Text(), ":"); len(fields) >= n {
			line(fields)
		}
	}
	return sc.Err()
}

func errNotRegular(path string) error { return fmt.Errorf("%s is not a regular file", path) }
