// Command floor is the least this architecture can do, for bench/run.sh: a Go supervisor
// that re-executes itself in the seven new namespaces confine makes (user with id maps,
// mount, pid, ipc, uts, net, cgroup), and a Go init stage that only execs its argument.
// No policy, mounts, firewall, cgroup, Landlock or seccomp: what is left is the price of
// two Go process starts, the clone and the exec.
package main

import (
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "init" {
		unix.Exec(os.Args[2], os.Args[2:], nil)
		os.Exit(127)
	}
	cmd := exec.Command("/proc/self/exe", append([]string{"init"}, os.Args[1:]...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = []string{}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWIPC |
			unix.CLONE_NEWUTS | unix.CLONE_NEWNET | unix.CLONE_NEWCGROUP,
		UidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}, {ContainerID: 1000, HostID: 1000, Size: 1}},
		GidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}, {ContainerID: 1000, HostID: 1000, Size: 1}},
		GidMappingsEnableSetgroups: true,
		Credential:                 &syscall.Credential{Uid: 0, Gid: 0},
		Pdeathsig:                  unix.SIGKILL,
		Setsid:                     true,
	}
	if err := cmd.Run(); err != nil {
		os.Exit(1)
	}
}
