package sandbox

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
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
}

// errNoSpawner: this build or user cannot run the spawner (no C stage, CONFINE_STAGE=go,
// not root); the caller starts every init stage with exec.Cmd.
var errNoSpawner = errors.New("no spawner: it needs root and the C stage")

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

// Close ends the spawner (EOF on its socket) and waits for it to exit. The children it
// made are the supervisor's and run on.
func (sp *Spawner) Close() {
	sp.mu.Lock()
	sp.sock.Close()
	sp.mu.Unlock()
	<-sp.gone
}

// Gone is closed once the spawner has exited.
func (sp *Spawner) Gone() <-chan struct{} { return sp.gone }

// spawnRequest is one clone: the init stage's namespaces, its descriptors from 0 on
// (stdin, stdout, stderr, then ExtraFiles), its v2 cgroup (nil: none, or v1), and its id
// maps, which the spawner writes right after the clone.
type spawnRequest struct {
	flags    uintptr
	setsid   bool
	files    []*os.File
	cgroup   *os.File
	uid, gid []syscall.SysProcIDMap
}

// spawn sends r and returns the child's pid. No pid: no child was made. A pid with an
// error: the child's maps failed, and it exits at once; the caller reaps it.
func (sp *Spawner) spawn(r spawnRequest) (int, error) {
	uid, gid := formatIDMap(r.uid), formatIDMap(r.gid)
	msg := make([]byte, 32, 32+len(uid)+len(gid))
	copy(msg, "CSP1")
	binary.LittleEndian.PutUint64(msg[4:], uint64(r.flags))
	if r.setsid {
		binary.LittleEndian.PutUint32(msg[12:], 1)
	}
	binary.LittleEndian.PutUint32(msg[16:], uint32(len(r.files)))
	binary.LittleEndian.PutUint32(msg[24:], uint32(len(uid)))
	binary.LittleEndian.PutUint32(msg[28:], uint32(len(gid)))
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
	var reply [8]byte
	n, _, _, _, err := unix.Recvmsg(fd, reply[:], nil, 0)
	if err != nil || n != len(reply) {
		return 0, fmt.Errorf("spawner: no answer (%v)", err)
	}
	pid := int(int32(binary.LittleEndian.Uint32(reply[:])))
	if errno := syscall.Errno(binary.LittleEndian.Uint32(reply[4:])); errno != 0 {
		if pid > 0 {
			return pid, fmt.Errorf("writing the id maps: %w", errno)
		}
		return 0, fmt.Errorf("spawner: clone3: %w", errno)
	}
	return pid, nil
}

// formatIDMap is an id map's text, as exec.Cmd writes it.
func formatIDMap(m []syscall.SysProcIDMap) []byte {
	var b []byte
	for _, e := range m {
		b = fmt.Appendf(b, "%d %d %d\n", e.ContainerID, e.HostID, e.Size)
	}
	return b
}
