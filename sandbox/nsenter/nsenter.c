// confine exec's pre-runtime stage; see doc.go. The descriptors are
// sandbox/exec_linux.go's (execFD*): keep the two in step.
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define FD_CONFIG 3 /* the Go stage's config; only the child reads it */
#define FD_ERROR 4  /* one StepError as JSON, or EOF once the command runs */
#define FD_PIDFD 5  /* a pidfd of the component's first process */
#define FD_SYNC 6   /* reads "go" once the cgroup holds us; gets the child's pid */

#define JOIN (CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | \
	      CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP)

// bail reports a failed step the way the Go stage does and exits.
static void bail(const char *step, const char *what)
{
	char buf[256];
	int n = snprintf(buf, sizeof buf, "{\"step\":\"%s\",\"error\":\"%s: %s\"}",
			 step, what, strerror(errno));
	if (n > 0 && write(FD_ERROR, buf, (size_t)n) < 0)
		_exit(2);
	_exit(2);
}

static void wait_child(pid_t child)
{
	int status;
	for (;;) {
		if (waitpid(child, &status, 0) == child)
			break;
		if (errno != EINTR)
			_exit(2);
	}
	if (WIFSIGNALED(status))
		_exit(128 + WTERMSIG(status));
	_exit(WEXITSTATUS(status));
}

void confine_nsenter(void)
{
	const char *marker = getenv("_CONFINE_NSENTER");
	if (marker == NULL || strcmp(marker, "1") != 0)
		return;
	// Non-dumpable until exec (CVE-2016-9962): the component shares our pid
	// namespace from here on and must not ptrace us or open /proc/PID/fd.
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		bail("dumpable", "prctl");
	char go;
	if (read(FD_SYNC, &go, 1) != 1)
		_exit(2); // the supervisor went away: nothing to report to
	// One call through the pidfd (Linux 5.8): the kernel joins the user namespace
	// first, then the others, atomically, and only into this very process's.
	if (setns(FD_PIDFD, JOIN) < 0)
		bail("setns", "joining the component's namespaces");
	// setns(CLONE_NEWPID) moves only children: the Go stage runs in a child.
	pid_t child = fork();
	if (child < 0)
		bail("fork", "fork");
	if (child == 0) {
		close(FD_PIDFD);
		close(FD_SYNC);
		if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
			bail("pdeathsig", "prctl");
		return; // the Go runtime starts here, in the component's pid namespace
	}
	int pid = child;
	if (write(FD_SYNC, &pid, sizeof pid) != sizeof pid) {
		kill(child, SIGKILL);
		_exit(2);
	}
	for (int fd = 0; fd <= FD_SYNC; fd++)
		close(fd);
	wait_child(child);
}
