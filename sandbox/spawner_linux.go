package sandbox

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/sandbox/stage"
)

// Spawner is a pre-forked process that clones a stack's init stages: the confine binary
// in the C constructor's spawner mode (stage/stage_spawn.c), which never starts the Go
// runtime. Its clone copies a process of a few hundred KiB, not the supervisor, and its
// child enters the C stage without an exec: a restart pays neither the supervisor's fork
// nor the binary's exec and dynamic loading. The child's parent is the supervisor
// (CLONE_PARENT), which writes its id maps and waits for it as for exec.Cmd's.
type Spawner struct {
	mu   sync.Mutex // one request at a time: the answers come in order
	sock *os.File
	pid  int
	gone chan struct{} // closed once the spawner process has exited
	// spares are the pids of the spares the spawner announced (cloned ahead of a
	// request, stage_spare.c) that no answer has used yet: this process is their parent
	// (CLONE_PARENT), and Close reaps them.
	spares []int
	// last: the spawner serves one request, its last (EarlySpawner), and exits after it,
	// at the EOF of Close.
	last bool
	// ahead is the firewall loaded into the spare's namespace for the next start
	// (firewall_ahead_linux.go); dropped one no start took, which Close waits for.
	ahead, dropped *firewallAhead
	// early: gone is nil, and the spawner is this process's child, reaped by Close
	// (EarlySpawner: no goroutine waits for it, nor a thread of its own).
	early  bool
	closed bool // Close is done: a second one does nothing (it would wait for a pid reused)
}

// errNoSpawner: this build or user cannot run the spawner (no C stage, CONFINE_STAGE=go,
// not root); the caller starts every init stage with exec.Cmd.
var errNoSpawner = errors.New("no spawner: it needs root and the C stage")

// errSpareTaken: the spawner does not hold the spare a request named (gone, or
// another); it made no child.
var errSpareTaken = errors.New("spawner: the spare named is not the one it holds")

// StartSpawner starts the spawner. It dies with the supervisor: its parent-death signal,
// and EOF on its socket. Close ends it.
func StartSpawner() (*Spawner, error) {
	if os.Geteuid() != 0 || !stage.Linked || goInitForced() {
		return nil, errNoSpawner
	}
	ours, theirs, err := seqpacketPair()
	if err != nil {
		return nil, err
	}
	sp := &Spawner{sock: ours, gone: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		// The spawner's children have this thread as their parent (CLONE_PARENT copies
		// the spawner's), and a parent-death signal follows the thread: it never ends,
		// and its goroutine stays on it.
		runtime.LockOSThread()
		cmd := exec.Command("/proc/self/exe")
		cmd.Args = []string{"confine-spawner"}
		cmd.Env = []string{stage.SpawnerMarker}
		cmd.ExtraFiles = []*os.File{theirs} // fd 3
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Pdeathsig: unix.SIGKILL}
		err := cmd.Start()
		theirs.Close()
		if err == nil {
			sp.pid = cmd.Process.Pid // before StartSpawner returns sp
		}
		started <- err
		if err != nil {
			return // no child has this thread as its parent
		}
		cmd.Wait()
		close(sp.gone)
		select {} // its children still run under this thread
	}()
	if err := <-started; err != nil {
		ours.Close()
		return nil, fmt.Errorf("starting the spawner: %w", err)
	}
	return sp, nil
}

// Pid is the spawner's process id.
func (sp *Spawner) Pid() int { return sp.pid }

// Close ends the spawner (EOF on its socket) and waits for it to exit, and for its last
// spare, which exits at the spawner's EOF. The children it made are the supervisor's and
// run on.
func (sp *Spawner) Close() {
	if sp == nil {
		return
	}
	// A load ahead no start took: over first (it reads the spare's notice, under mu),
	// and its descriptor of the spare's namespace closed.
	for _, a := range []*firewallAhead{sp.ahead, sp.dropped} {
		if a != nil {
			a.wait()
		}
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.closed {
		return
	}
	sp.closed = true
	fd := int(sp.sock.Fd())
	unix.Shutdown(fd, unix.SHUT_WR)
	for { // the notices sent before the spawner saw EOF; then EOF (it exited)
		if _, _, err := sp.receive(fd, 0); err != nil {
			break
		}
	}
	sp.sock.Close()
	if sp.early {
		reap(sp.pid)
	} else {
		<-sp.gone
	}
	for _, pid := range sp.spares {
		reap(pid)
	}
	sp.spares = nil
}

// endLast shuts the socket of a spawner that served its last request for writing: it
// exits at that EOF (stage_spawn.c), and Close then finds it gone, or nearly.
func (sp *Spawner) endLast() {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if !sp.closed {
		unix.Shutdown(int(sp.sock.Fd()), unix.SHUT_WR)
	}
}

// reap waits for pid, a child of this process.
func reap(pid int) {
	var ws unix.WaitStatus
	for {
		if _, err := unix.Wait4(pid, &ws, 0, nil); err != unix.EINTR {
			return
		}
	}
}

// Spare is the pid of the spare the spawner holds for the next start, 0 when it has
// announced none (yet): it reads the notices that came since the last start.
func (sp *Spawner) Spare() int {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	for {
		if pid, _, err := sp.receive(int(sp.sock.Fd()), unix.MSG_DONTWAIT); err != nil || pid >= 0 {
			break // no message waits (a reply never does outside spawn)
		}
	}
	if len(sp.spares) == 0 {
		return 0
	}
	return sp.spares[len(sp.spares)-1]
}

// Gone is closed once the spawner has exited (not for the EarlySpawner: exited).
func (sp *Spawner) Gone() <-chan struct{} { return sp.gone }

// exited reports whether the spawner has exited, without reaping it.
func (sp *Spawner) exited() bool {
	if !sp.early {
		select {
		case <-sp.gone:
			return true
		default:
			return false
		}
	}
	var info unix.Siginfo
	err := unix.Waitid(unix.P_PID, sp.pid, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
	return err != nil || info.Signo != 0 // a child no more, or one that exited
}

// spawnRequest is one clone: the init stage's namespaces, its descriptors from 0 on
// (stdin, stdout, stderr, then ExtraFiles), its v2 cgroup (nil: none, or v1), and its id
// maps, which the spawner writes right after the clone.
type spawnRequest struct {
	flags    uintptr
	setsid   bool
	last     bool // the spawner's last request: it exits after (at EOF), with no spare
	spare    int  // the spare it must take (its firewall is loaded ahead), 0: any
	fresh    bool // never the spare: a fresh clone (the spare holds another's firewall)
	files    []*os.File
	cgroup   *os.File
	uid, gid []syscall.SysProcIDMap
	// during runs between the request and the answer, while the spawner clones: the
	// caller's own work, on its thread, instead of a goroutine's beside the wait.
	during func()
}

// spawn sends r and returns the child's pid. No pid: no child was made. A pid with an
// error: the child's maps failed, and it exits at once; the caller reaps it.
func (sp *Spawner) spawn(r spawnRequest) (int, error) {
	uid, gid := formatIDMap(r.uid), formatIDMap(r.gid)
	msg := make([]byte, 36, 36+len(uid)+len(gid))
	copy(msg, "CSP1")
	binary.LittleEndian.PutUint64(msg[4:], uint64(r.flags))
	var opts uint32
	if r.setsid {
		opts |= 1
	}
	if r.last {
		opts |= 2
	}
	if r.fresh {
		opts |= 4
	}
	binary.LittleEndian.PutUint32(msg[12:], opts)
	binary.LittleEndian.PutUint32(msg[16:], uint32(len(r.files)))
	binary.LittleEndian.PutUint32(msg[24:], uint32(len(uid)))
	binary.LittleEndian.PutUint32(msg[28:], uint32(len(gid)))
	binary.LittleEndian.PutUint32(msg[32:], uint32(r.spare))
	msg = append(append(msg, uid...), gid...)
	var fds []int
	for _, f := range r.files {
		fds = append(fds, int(f.Fd()))
	}
	if r.cgroup != nil {
		binary.LittleEndian.PutUint32(msg[20:], 1)
		fds = append(fds, int(r.cgroup.Fd()))
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	fd := int(sp.sock.Fd())
	if err := unix.Sendmsg(fd, msg, unix.UnixRights(fds...), nil, unix.MSG_NOSIGNAL); err != nil {
		return 0, fmt.Errorf("spawner: %w", err)
	}
	if r.during != nil {
		r.during()
	}
	pid, errno, err := sp.receive(fd, 0)
	for err == nil && pid < 0 { // a spare's notice
		pid, errno, err = sp.receive(fd, 0)
	}
	if err != nil {
		return 0, fmt.Errorf("spawner: no answer (%v)", err)
	}
	if errno == unix.ESRCH && r.spare != 0 && pid == 0 {
		return 0, errSpareTaken
	}
	if errno != 0 {
		if pid > 0 {
			return pid, fmt.Errorf("writing the id maps: %w", errno)
		}
		return 0, fmt.Errorf("spawner: clone3: %w", errno)
	}
	return pid, nil
}

// receive reads one message of the spawner's. A spare's notice is recorded, a gone
// spare's reaped; both come back as pid -1. An answer with a spare's pid takes it off
// the list (the caller waits for it now).
func (sp *Spawner) receive(fd, flags int) (pid int, errno syscall.Errno, err error) {
	var m [12]byte
	n, _, _, _, err := unix.Recvmsg(fd, m[:], nil, flags)
	for err == unix.EINTR {
		n, _, _, _, err = unix.Recvmsg(fd, m[:], nil, flags)
	}
	if err == nil && n != len(m) {
		err = fmt.Errorf("a message of %d bytes", n)
	}
	if err != nil {
		return 0, 0, err
	}
	kind, pid := binary.LittleEndian.Uint32(m[:]), int(int32(binary.LittleEndian.Uint32(m[4:])))
	if kind == 2 && pid > 0 {
		sp.spares = append(sp.spares, pid)
		return -1, 0, nil
	}
	if kind == 3 && slices.Contains(sp.spares, pid) { // its socket closed: it has exited
		sp.spares = slices.DeleteFunc(sp.spares, func(p int) bool { return p == pid })
		reap(pid)
		return -1, 0, nil
	}
	if kind != 1 {
		return 0, 0, fmt.Errorf("a message of kind %d", kind)
	}
	sp.spares = slices.DeleteFunc(sp.spares, func(p int) bool { return p == pid })
	return pid, syscall.Errno(binary.LittleEndian.Uint32(m[8:])), nil
}

// formatIDMap is an id map's text, as exec.Cmd writes it.
func formatIDMap(m []syscall.SysProcIDMap) []byte {
	var b []byte
	for _, e := range m {
		b = fmt.Appendf(b, "%d %d %d\n", e.ContainerID, e.HostID, e.Size)
	}
	return b
}
