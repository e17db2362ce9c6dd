//go:build cgo && linux

// The lone run's early spawner: `confine run` as root forks its spawner here, in the
// constructor, before the Go runtime starts. The fork copies a process of a few hundred
// KiB, and the spawner clones its spare at once, on the other core, while the runtime
// starts and the policy compiles; the run's one spawn then takes the spare
// (sandbox/spawner_early_linux.go). Its parent is the initial thread, which the Go
// runtime never ends (runtime.mexit wedges m0 instead): the spawner's and its children's
// parent-death signals follow that thread.
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "stage.h"
#include "stage_spawn.h"

int confine_early_sock = -1, confine_early_pid;

// early_defaults gives the spawner what exec.Cmd's child would have: stdio /dev/null
// (it must hold no pipe of the caller's open), its own session (a terminal's ^C is the
// run's to forward), and default dispositions but the SIGHUP and SIGINT the Go runtime
// keeps ignored when they were (its signal mask is already the one it started with).
static void early_defaults(void) {
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0)
		_exit(1);
	for (int fd = 0; fd < 3; fd++)
		if (dup2(null, fd) < 0)
			_exit(1);
	setsid();
	for (int sig = 1; sig < 65; sig++)
		if (sig != SIGHUP && sig != SIGINT && sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
}

// above_stdio moves fd past 0-2: a caller that closed its stdin would otherwise have
// the run's os.Stdin, and so the component's, be the spawner's socket.
static int above_stdio(int fd) {
	if (fd > 2)
		return fd;
	int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	close(fd);
	return moved;
}

void early_spawner(void) {
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return; // no early spawner: the run starts its init stage as without one
	sv[0] = above_stdio(sv[0]), sv[1] = above_stdio(sv[1]);
	if (sv[0] < 0 || sv[1] < 0) {
		close(sv[0]), close(sv[1]);
		return;
	}
	pid_t parent = getpid(), pid = fork();
	if (pid < 0) {
		close(sv[0]), close(sv[1]);
		return;
	}
	if (pid > 0) {
		close(sv[1]);
		confine_early_sock = sv[0], confine_early_pid = pid; // close-on-exec
		return;
	}
	// Non-dumpable at once, as spawner_main makes it: it holds the caller's descriptors
	// until then (CVE-2016-9962). It dies with the run (its initial thread).
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (getppid() != parent)
		_exit(1);
	prctl(PR_SET_NAME, "confine-spawner", 0, 0, 0);
	close(sv[0]);
	// Its end on fd 3, over whatever the caller had there (spawner_main closes every
	// descriptor above it: the caller's, as LISTEN_FDS's, stay the run's alone).
	if (sv[1] != FD_SPAWNER && dup2(sv[1], FD_SPAWNER) < 0)
		_exit(1);
	early_defaults();
	spare_mounts_ahead = 1; // its one spare is taken within milliseconds (stage_spare.c)
	spawner_main();
}
