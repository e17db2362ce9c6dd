//go:build cgo && linux

// The pre-forked spawner (sandbox/spawner_linux.go): a stack's supervisor starts the
// confine binary once with _CONFINE_STAGE=spawner, and the constructor serves its
// requests here without ever starting the Go runtime. Each request clones one init
// stage with the namespace flags and CLONE_PARENT, so that the supervisor is its parent
// as with exec.Cmd; the child puts the request's descriptors in place, closes every
// other one, waits for its id maps, becomes ns-root as exec.Cmd's Credential makes it
// and enters stage_main without an exec. The spawner writes the maps the request holds
// itself, right after the clone: the child does not wait for a round trip to the
// supervisor. Between requests it keeps one child cloned ahead, the spare
// (stage_spare.c), which the next request without a cgroup descriptor takes.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "stage.h"
#include "stage_spawn.h"

// How long after a request the next spare's clone waits (serve; docs/BENCHMARKS.md,
// session 21).
#ifndef SPARE_DELAY_MS
#define SPARE_DELAY_MS 20
#endif

// close_above closes every descriptor from lo but keep and the spare's prepared mounts
// (AHEAD_FD up to ahead_fd_end(), above keep); one at a time where the kernel has no
// close_range (before 5.9: clone3 is 5.3).
void close_above(int lo, int keep) {
	if (keep >= AHEAD_FD)
		ahead_forget(); // not seen so far: the ops then build everything
	unsigned end = (unsigned)ahead_fd_end(), gap = end ? AHEAD_FD : ~0U;
	if ((keep > lo && syscall(SYS_close_range, lo, keep - 1, 0) < 0) ||
	    syscall(SYS_close_range, keep + 1, gap == ~0U ? ~0U : gap - 1, 0) < 0 ||
	    (gap != ~0U && syscall(SYS_close_range, end, ~0U, 0) < 0))
		for (int fd = lo; fd < 65536; fd++)
			if (fd != keep && (gap == ~0U || fd < AHEAD_FD || fd >= (int)end))
				close(fd);
}

void spawn_child(const struct request *rq, int sync, const int *files, int session) {
	int n = (int)rq->nfiles, moved[MAX_FILES];
	// The supervisor is the parent (CLONE_PARENT): die with it from here on.
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	// Every descriptor above 0..n-1 first, so that no dup2 below overwrites one it needs.
	for (int i = 0; i < n; i++)
		if ((moved[i] = fcntl(files[i], F_DUPFD_CLOEXEC, n)) < 0)
			_exit(127);
	if ((sync = fcntl(sync, F_DUPFD_CLOEXEC, n)) < 0)
		_exit(127);
	for (int i = 0; i < n; i++)
		if (dup2(moved[i], i) < 0) // the copy is not close-on-exec
			_exit(127);
	// Nothing else of the spawner's reaches the stage: its socket, the received copies
	// (CVE-2024-21626).
	close_above(n, sync);
	// The id maps, as exec.Cmd's child waits for them, and the supervisor's having this
	// pid. EOF: the maps failed, or the spawner is gone.
	char b;
	ssize_t r;
	do
		r = read(sync, &b, 1);
	while (r < 0 && errno == EINTR);
	if (r != 1)
		_exit(1);
	close(sync);
	// exec.Cmd's SysProcAttr: Setsid, then Credential{Uid: 0, Gid: 0}. The user
	// namespace's creation cleared the inheritable and ambient sets (CVE-2022-29162);
	// the stage's OP_CAPS sets all of them to the Plan's.
	if ((rq->opts & SPAWN_SETSID) && !session && setsid() < 0)
		stage_fail(NULL, errno, 1, 0, "spawner: setsid");
	if (syscall(SYS_setgroups, 0, NULL) < 0)
		stage_fail(NULL, errno, 1, 0, "spawner: setgroups");
	if (syscall(SYS_setresgid, 0, 0, 0) < 0)
		stage_fail(NULL, errno, 1, 0, "spawner: setresgid");
	if (syscall(SYS_setresuid, 0, 0, 0) < 0)
		stage_fail(NULL, errno, 1, 0, "spawner: setresuid");
	// A credential change clears the parent-death signal: set it again.
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		stage_fail(NULL, errno, 1, 0, "spawner: PR_SET_PDEATHSIG");
	stage_main();
}

// receive reads one request; it returns the number of descriptors, or -1 at EOF.
static int receive(struct request *rq, int fds[MAX_RIGHTS], int *bad) {
	unsigned char data[HEADER_LEN + 2 * MAX_MAP + 1];
	union { char buf[CMSG_SPACE(sizeof(int) * MAX_RIGHTS)]; struct cmsghdr align; } cbuf;
	struct iovec iov = {.iov_base = data, .iov_len = sizeof data};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.buf,
			     .msg_controllen = sizeof cbuf.buf};
	ssize_t n;
	do
		n = recvmsg(FD_SPAWNER, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return -1; // the supervisor closed its end, or is gone
	int k = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		int m = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (int i = 0; i < m && k < MAX_RIGHTS; i++)
			memcpy(&fds[k++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
	}
	*bad = n < HEADER_LEN || memcmp(data, "CSP1", 4) != 0 || (msg.msg_flags & (MSG_CTRUNC | MSG_TRUNC));
	if (!*bad) {
		memcpy(&rq->flags, data + 4, 8);
		memcpy(&rq->opts, data + 12, 4);
		memcpy(&rq->nfiles, data + 16, 4);
		memcpy(&rq->cgroup, data + 20, 4);
		memcpy(&rq->uidlen, data + 24, 4);
		memcpy(&rq->gidlen, data + 28, 4);
		memcpy(&rq->spare, data + 32, 4);
		// Only an init stage in a user namespace of its own, both maps given: nothing
		// the spawner clones is ever root of the host's.
		*bad = (rq->flags & ~(uint64_t)SPAWN_NS_FLAGS) != 0 || !(rq->flags & CLONE_NEWUSER) ||
		       rq->uidlen == 0 || rq->gidlen == 0 || rq->opts > (SPAWN_SETSID | SPAWN_LAST | SPAWN_FRESH) || rq->nfiles < 3 ||
		       rq->nfiles > MAX_FILES || rq->cgroup > 1 || k != (int)rq->nfiles + (int)rq->cgroup ||
		       rq->uidlen > MAX_MAP || rq->gidlen > MAX_MAP || n != HEADER_LEN + rq->uidlen + rq->gidlen ||
		       (int32_t)rq->spare < 0 || (rq->spare && (rq->opts & SPAWN_FRESH));
	}
	if (!*bad)
		memcpy(rq->maps, data + HEADER_LEN, rq->uidlen + rq->gidlen);
	return k;
}

// write_map writes one id map of pid, in one write as the kernel wants it.
int write_map(long pid, const char *file, const char *text, uint32_t len) {
	char path[64];
	snprintf(path, sizeof path, "/proc/%ld/%s", pid, file);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	int err = write(fd, text, len) == (ssize_t)len ? 0 : (errno ? errno : EIO);
	close(fd);
	return err;
}

// clone_one clones the child of rq and writes its maps; the reply's pid is 0 when no
// child was made, and its errno says why; a pid with an errno is a child whose maps
// failed, which exits at once and which the supervisor reaps. It returns the socket
// that lets the child go on (serve, once the supervisor has its pid), or -1.
static int clone_one(const struct request *rq, const int *fds, int k, int32_t reply[2]) {
	// A socket, not a pipe: the byte goes with MSG_NOSIGNAL, and a child the supervisor
	// killed first costs no SIGPIPE.
	int sync[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sync) < 0) {
		reply[1] = errno;
		return -1;
	}
	// No exit_signal with CLONE_PARENT: the child's is the spawner's own, SIGCHLD,
	// which the supervisor's exec.Cmd gave it.
	struct spawn_clone_args a = {.flags = rq->flags | CLONE_PARENT};
	if (rq->cgroup)
		a.flags |= SPAWN_CLONE_INTO_CGROUP, a.cgroup = (uint64_t)fds[k - 1];
	long pid = syscall(SYS_clone3, &a, sizeof a);
	if (pid == 0)
		spawn_child(rq, sync[0], fds, 0);
	close(sync[0]);
	if (pid < 0) {
		reply[1] = errno;
		close(sync[1]);
		return -1;
	}
	reply[0] = (int32_t)pid;
	// As exec.Cmd's parent: the uid map, then the gid map (setgroups stays allowed).
	reply[1] = write_map(pid, "uid_map", rq->maps, rq->uidlen);
	if (!reply[1])
		reply[1] = write_map(pid, "gid_map", rq->maps + rq->uidlen, rq->gidlen);
	if (reply[1]) {
		close(sync[1]); // EOF: the child exits
		return -1;
	}
	return sync[1];
}

// tell sends one message to the supervisor, or exits: it is gone.
void tell(int32_t kind, int32_t pid, int32_t err) {
	int32_t m[3] = {kind, pid, err};
	if (send(FD_SPAWNER, m, sizeof m, MSG_NOSIGNAL) != sizeof m)
		_exit(1);
}

// serve answers one request with the child's pid, or the errno, and only then lets the
// child go on: a spawner killed before its answer leaves a child that exits at EOF
// without reading a descriptor, which the supervisor's fallback (exec.Cmd, never told
// of this child) hands to a second one. Then it makes the next spare.
static void serve(void) {
	static struct request rq;
	int fds[MAX_RIGHTS], bad = 0, go = -1;
	int k = receive(&rq, fds, &bad);
	if (k < 0)
		_exit(0);
	int32_t reply[2] = {0, bad ? EINVAL : 0};
	if (!bad && rq.spare) {
		// That spare or none: its network namespace holds the firewall the supervisor
		// loaded ahead, which another child's would not. Refused (ESRCH), the
		// supervisor starts the init stage another way and loads it again.
		if (!spare_fits(&rq) || !spare_is((int32_t)rq.spare) || (go = spare_take(&rq, fds, reply)) == -2)
			reply[1] = ESRCH, go = -1;
	} else if (!bad && ((rq.opts & SPAWN_FRESH) || !spare_fits(&rq) || (go = spare_take(&rq, fds, reply)) == -2))
		go = clone_one(&rq, fds, k, reply);
	for (int i = 0; i < k; i++)
		close(fds[i]);
	tell(MSG_REPLY, reply[0], reply[1]);
	if (go >= 0) {
		// Refused only when the child is gone already: the supervisor reaps it.
		send(go, "", 1, MSG_NOSIGNAL);
		close(go);
	}
	if (!bad && (rq.opts & SPAWN_LAST)) {
		// The lone run's one request: no spare. Its exit waits for the supervisor's EOF
		// (sent with the go signal): made at once, the exit (its address space, the
		// SIGCHLD) took a core from the stage's start (0.3 ms median on two busy cores;
		// docs/BENCHMARKS.md, session 23). It holds nothing of the request's.
		char b;
		ssize_t r;
		do
			r = recv(FD_SPAWNER, &b, 1, 0);
		while (r > 0 || (r < 0 && errno == EINTR));
		_exit(0);
	}
	// The next spare's clone (0.5-0.7 ms of CPU, most of it CLONE_NEWNET's) waits until
	// the start just served is likely over: made at once, it took a core from that
	// start's stage on 2 cores. A request within the delay is served first, fresh.
	struct pollfd p = {.fd = FD_SPAWNER, .events = POLLIN};
	if (SPARE_DELAY_MS > 0 && poll(&p, 1, SPARE_DELAY_MS) > 0)
		return;
	spare_make();
}

void spawner_main(void) {
	// Non-dumpable, and so each child from its first instruction (the flag is the
	// memory's, copied by the clone): nothing may ptrace it while it holds the
	// supervisor's descriptors (CVE-2016-9962).
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	// No directory of the supervisor's is a child's working directory (CVE-2024-21626).
	if (chdir("/") < 0)
		_exit(1);
	// Nor does the spawner hold what the supervisor's caller left inheritable: it lives
	// as long as the stack, and a moment past a killed supervisor.
	if (syscall(SYS_close_range, FD_SPAWNER + 1, ~0U, 0) < 0)
		for (int fd = FD_SPAWNER + 1; fd < 65536; fd++)
			close(fd);
	spare_make();
	for (;;)
		serve();
}
