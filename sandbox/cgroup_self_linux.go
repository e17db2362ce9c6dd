package sandbox

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/sandbox/stage"
)

// selfAttach is the C stage's own move into its v1 cgroup. The supervisor's write of a
// pid to cgroup.procs takes cgroup_threadgroup_rwsem for writing and waits for an RCU
// grace period (6.5 ms median on this host's critical path); a single-threaded task
// that writes "0" to a v1 hierarchy's tasks file moves only itself and skips that lock
// (cgroup_procs_write_start). v1 checks the credentials of whoever opened the file, so
// the supervisor, root, opens each hierarchy's tasks file once the cgroup is made and
// hands the descriptors over with the go signal; the stage writes "0" to each, in
// order, before seccomp and exec. The Go init is multithreaded: the supervisor still
// moves it (cgroup.procs).
type selfAttach struct {
	path  string   // the cgroup's name, /confine/NAME-SUPERVISOR-N
	pid   int      // the init stage's, for the words of a failure
	files []string // each hierarchy's tasks file, in the order the descriptors go
}

// openTasks opens the tasks file of each of the cgroup's v1 hierarchies for writing
// (the directories containerd's cgroup1 manager made), and fills a with what it opened.
// Raw descriptors, not os.Files: they only ride along with the go signal, and an
// os.File of a cgroupfs file is registered with the runtime's poller (kernfs files
// poll) and unregistered at its close, four system calls more each. Nothing stays
// open on an error.
func (c *Cgroup) openTasks(a *selfAttach, pid int) ([]int, error) {
	a.path, a.pid = c.Path, pid
	var fds []int
	for _, dir := range c.dirs {
		name := dir + "/tasks"
		fd, err := unix.Open(name, unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			closeFDs(fds)
			return nil, fmt.Errorf("cgroup %s: adding %d: open %s: %w", c.Path, pid, name, err)
		}
		fds = append(fds, fd)
		a.files = append(a.files, name)
	}
	return fds, nil
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

func closeFiles(fs []*os.File) {
	for _, f := range fs {
		f.Close()
	}
}

// renderCgroupSelf: on a v1 host the C stage writes "0" to the tasks descriptors that
// came with the go signal, which the wait_parent step received; the Go init was moved
// by the supervisor. A failure is worded as the supervisor's Add words it, naming the
// hierarchy's tasks file.
func renderCgroupSelf(cfg *initConfig, p *stage.Program) error {
	a := cfg.selfCgroup
	if a == nil {
		return nil
	}
	p.Add(stage.OpCgroupSelf, nil, nil, func(e stage.Error) string {
		file := fmt.Sprintf("hierarchy %d", e.Aux)
		if int(e.Aux) < len(a.files) {
			file = a.files[e.Aux]
		}
		return fmt.Sprintf("cgroup %s: adding %d: write %s: %v", a.path, a.pid, file, e.Errno)
	})
	return nil
}

// movedByParent is the Go init's side of the cgroups step: the supervisor moved it
// (a multithreaded process cannot move itself as a whole through tasks).
func movedByParent(*initConfig) error { return nil }
