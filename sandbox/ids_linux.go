package sandbox

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// RangeSize is how many host ids (uids, and as many gids) each component owns as root:
// container ids 0..65535. Fewer breaks chown to a service user (podman#17120).
const RangeSize = 65536

// The range confine reserves for itself when /etc/subuid and /etc/subgid name no
// "confine" entry: 0x70000000, just above systemd's container range (524288…1879048191)
// and below its foreign-uid range at 0x7FFE0000, far from the 100000+ ranges useradd
// hands out, and below 2^31, which some tools read as negative. 4094 components' ranges.
const (
	reserveName  = "confine"
	reserveStart = 0x70000000
	reserveCount = 0x7FFE0000 - reserveStart
)

// idStore allocates and records the components' host id ranges: files of its own
// under dir, one per component, keyed by stack and component, so that a recreated
// component gets its range again and its volumes keep their owners. Podman's
// --userns=auto, with records instead of a scan of its containers.
type idStore struct {
	subuid, subgid, passwd, group string
	dir                           string
	// leases are the lone-run slots this process holds (nil: hostLeases).
	leases *leaseTable
}

// hostIDs is the store as root uses it.
var hostIDs = idStore{subuid: "/etc/subuid", subgid: "/etc/subgid", passwd: "/etc/passwd", group: "/etc/group", dir: "/var/lib/confine/ids"}

// idRange is one component's first host uid and gid; each spans RangeSize ids.
type idRange struct {
	UID uint32 `json:"uid"`
	GID uint32 `json:"gid"`
}

// span is a run of host ids: [start, start+count).
type span struct{ start, count uint64 }

func (s span) end() uint64             { return s.start + s.count }
func (s span) overlaps(o span) bool    { return s.start < o.end() && o.start < s.end() }
func (s span) contains(id uint64) bool { return id >= s.start && id+RangeSize <= s.end() }

// idKey names a component's record: STACK.COMPONENT, or COMPONENT for a lone run.
// Names are validated identifiers without dots, so the two forms cannot meet; a Plan
// from a file is checked again here, since the key becomes a file name.
func idKey(stack, component string) (string, error) {
	for _, n := range []string{stack, component} {
		if strings.Trim(n, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" || len(n) > 64 {
			return "", fmt.Errorf("bug: name %q cannot key an id range", n)
		}
	}
	if component == "" {
		return "", errors.New("bug: a component without a name cannot key an id range")
	}
	if stack == "" {
		return component, nil
	}
	return stack + "." + component, nil
}

// rangeFor returns the component's recorded range, allocating one on its first start.
// A lone run's (stack "") is leased for the process's life (leaseFor), so that a
// concurrent run of the same component gets a range of its own.
func (st idStore) rangeFor(stack, component string) (idRange, error) {
	key, err := idKey(stack, component)
	if err != nil {
		return idRange{}, err
	}
	if stack == "" {
		return st.leaseFor(key)
	}
	return st.keyRange(key)
}

// keyRange returns key's recorded range, allocating one on its first use. The fast
// path reads the record and the reservations; only an allocation takes the store's
// lock, and only for as long as it reads and writes a few small files.
func (st idStore) keyRange(key string) (idRange, error) {
	if r, err := st.recorded(key); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return r, err
	}
	if err := os.MkdirAll(st.dir, 0o700); err != nil {
		return idRange{}, fmt.Errorf("id ranges: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(st.dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return idRange{}, fmt.Errorf("id ranges: %w", err)
	}
	defer lock.Close() // closing releases the lock
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return idRange{}, fmt.Errorf("id ranges: locking %s: %w", lock.Name(), err)
	}
	if r, err := st.recorded(key); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return r, err // another start allocated it while this one waited
	}
	uids, gids, err := st.reservations(true)
	if err != nil {
		return idRange{}, err
	}
	used, err := st.used()
	if err != nil {
		return idRange{}, err
	}
	r, ok := freeRange(uids, gids, used)
	if !ok {
		return idRange{}, fmt.Errorf("id ranges: every %d-id range of the %q entries in %s is recorded under %s; remove the records of components that are gone, or widen the entries", RangeSize, reserveName, st.subuid, st.dir)
	}
	return r, st.record(key, r)
}

// recorded reads key's record and checks that it still lies inside the reservations.
func (st idStore) recorded(key string) (idRange, error) {
	data, err := readKernelFile(filepath.Join(st.dir, key)) // on every start's path
	if err != nil {
		return idRange{}, err
	}
	r, err := decodeRange(data)
	if err != nil {
		return idRange{}, fmt.Errorf("id ranges: %s: %w", filepath.Join(st.dir, key), err)
	}
	uids, gids, err := st.reservations(false)
	if err != nil {
		return idRange{}, err
	}
	if !within(uids, r.UID) || !within(gids, r.GID) {
		return idRange{}, fmt.Errorf("id ranges: %s records uids %d and gids %d, outside the %q entries of %s and %s; remove the record to get a new range (its files' owners then change)", filepath.Join(st.dir, key), r.UID, r.GID, reserveName, st.subuid, st.subgid)
	}
	return r, nil
}

// decodeRange reads a record as record wrote it, {"uid":N,"gid":N}, without
// encoding/json, whose first use in a process learns the type (a tenth of the start's
// ids step); anything else is json.Unmarshal's, answer and error alike.
func decodeRange(data []byte) (idRange, error) {
	rest, ok := strings.CutPrefix(strings.TrimRight(string(data), "\n"), `{"uid":`)
	uid, rest, ok1 := strings.Cut(rest, `,"gid":`)
	gid, ok2 := strings.CutSuffix(rest, "}")
	if ok && ok1 && ok2 {
		u, uerr := canonicalUint32(uid)
		g, gerr := canonicalUint32(gid)
		if uerr == nil && gerr == nil {
			return idRange{UID: u, GID: g}, nil
		}
	}
	var r idRange
	err := json.Unmarshal(data, &r)
	return r, err
}

// canonicalUint32 parses a JSON number that is a uint32 as json.Marshal writes one:
// digits, no leading zero.
func canonicalUint32(s string) (uint32, error) {
	if len(s) == 0 || len(s) > 1 && s[0] == '0' || strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		return 0, strconv.ErrSyntax
	}
	n, err := strconv.ParseUint(s, 10, 32)
	return uint32(n), err
}

func within(spans []span, id uint32) bool {
	for _, s := range spans {
		if s.contains(uint64(id)) {
			return true
		}
	}
	return false
}

// used lists the uid starts of every record.
func (st idStore) used() (map[uint32]bool, error) {
	entries, err := os.ReadDir(st.dir)
	if err != nil {
		return nil, fmt.Errorf("id ranges: %w", err)
	}
	used := map[uint32]bool{}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(st.dir, e.Name()))
		var r idRange
		if err == nil {
			r, err = decodeRange(data)
		}
		if err != nil {
			return nil, fmt.Errorf("id ranges: unreadable record %s (%v); fix or remove it", filepath.Join(st.dir, e.Name()), err)
		}
		used[r.UID] = true
	}
	return used, nil
}

// freeRange picks the lowest range, aligned within the reservations, that no record
// holds; the n-th uid range pairs with the n-th gid range.
func freeRange(uids, gids []span, used map[uint32]bool) (idRange, bool) {
	slots := func(spans []span) []uint64 {
		var out []uint64
		for _, s := range spans {
			for id := s.start; id+RangeSize <= s.end(); id += RangeSize {
				out = append(out, id)
			}
		}
		return out
	}
	us, gs := slots(uids), slots(gids)
	for i := 0; i < len(us) && i < len(gs); i++ {
		if !used[uint32(us[i])] {
			return idRange{UID: uint32(us[i]), GID: uint32(gs[i])}, true
		}
	}
	return idRange{}, false
}

// record writes key's range atomically: a reader sees no record or the whole one.
func (st idStore) record(key string, r idRange) error {
	data, _ := json.Marshal(r)
	tmp := filepath.Join(st.dir, ".tmp-"+key)
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("id ranges: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(st.dir, key)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("id ranges: %w", err)
	}
	return nil
}

// reservations reads the "confine" entries of /etc/subuid and /etc/subgid. With create,
// missing entries are added (reserve).
func (st idStore) reservations(create bool) (uids, gids []span, err error) {
	uidAll, gidAll, err := st.readBoth()
	if err != nil {
		return nil, nil, err
	}
	uids, gids = uidAll[reserveName], gidAll[reserveName]
	if len(uids) > 0 && len(gids) > 0 {
		return uids, gids, nil
	}
	if !create {
		return nil, nil, fmt.Errorf("id ranges: %s and %s need a %q entry", st.subuid, st.subgid, reserveName)
	}
	if err := st.reserve(); err != nil {
		return nil, nil, err
	}
	return st.reservations(false)
}

func (st idStore) readBoth() (uids, gids map[string][]span, err error) {
	if uids, err = readSubIDs(st.subuid); err != nil {
		return nil, nil, err
	}
	gids, err = readSubIDs(st.subgid)
	return uids, gids, err
}

// reserve adds the missing "confine" entries, under the store's lock and shadow's locks
// on both files (lockShadowFile), so that useradd cannot hand out the same ids meanwhile
// nor lose the line in its own rewrite: the files are read again under the locks, and
// each rewritten whole (rewriteFile). The entry is the default range when nothing else
// uses it, otherwise the first aligned place past every entry and local id.
func (st idStore) reserve() error {
	for _, path := range []string{st.subuid, st.subgid} { // always this order
		unlock, err := lockShadowFile(path)
		if err != nil {
			return err
		}
		defer unlock()
	}
	uidAll, gidAll, err := st.readBoth()
	if err != nil {
		return err
	}
	var taken []span
	for _, m := range []map[string][]span{uidAll, gidAll} {
		for _, spans := range m {
			taken = append(taken, spans...)
		}
	}
	for _, f := range []string{st.passwd, st.group} {
		taken = append(taken, localIDs(f)...)
	}
	s := span{start: reserveStart, count: reserveCount}
	if collides(s, taken) {
		var last uint64
		for _, t := range taken {
			last = max(last, t.end())
		}
		start := (last + RangeSize - 1) / RangeSize * RangeSize
		s = span{start: start, count: 256 * RangeSize}
		if s.end() > 1<<31 {
			return fmt.Errorf("id ranges: no room for a %q entry in %s below 2^31; add one by hand (%s:START:COUNT, COUNT a multiple of %d)", reserveName, st.subuid, reserveName, RangeSize)
		}
	}
	line := fmt.Sprintf("%s:%d:%d\n", reserveName, s.start, s.count)
	for _, f := range []struct {
		path string
		have []span
	}{{st.subuid, uidAll[reserveName]}, {st.subgid, gidAll[reserveName]}} {
		if len(f.have) > 0 {
			continue
		}
		if err := appendLine(f.path, line); err != nil {
			return err
		}
	}
	return nil
}

func collides(s span, taken []span) bool {
	for _, t := range taken {
		if s.overlaps(t) {
			return true
		}
	}
	return false
}

// appendLine adds one line to path, rewriting the file atomically (the caller holds
// shadow's lock on it).
func appendLine(path, line string) error {
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("id ranges: reserving confine's range: %w", err)
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		data = append(data, '\n') // the file's last line lacks its newline
	}
	if err := rewriteFile(path, append(data, line...)); err != nil {
		return fmt.Errorf("id ranges: reserving confine's range in %s: %w", path, err)
	}
	return nil
}

// readSubIDs parses NAME:START:COUNT lines (subuid(5)); a missing file has no entries.
func readSubIDs(path string) (map[string][]span, error) {
	data, err := readKernelFile(path) // on every start's path
	if errors.Is(err, fs.ErrNotExist) {
		return map[string][]span{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("id ranges: %w", err)
	}
	out := map[string][]span{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) != 3 {
			continue
		}
		start, err1 := strconv.ParseUint(f[1], 10, 32)
		count, err2 := strconv.ParseUint(f[2], 10, 32)
		if err1 != nil || err2 != nil || count == 0 {
			continue
		}
		out[f[0]] = append(out[f[0]], span{start, count})
	}
	return out, nil
}

// localIDs are the ids /etc/passwd or /etc/group assign (the third field), each a span
// of one, so a new reservation never covers a local user or group.
func localIDs(path string) []span {
	data, _ := os.ReadFile(path)
	var out []span
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Split(line, ":")
		if len(f) < 3 {
			continue
		}
		if id, err := strconv.ParseUint(f[2], 10, 32); err == nil {
			out = append(out, span{id, 1})
		}
	}
	return out
}
