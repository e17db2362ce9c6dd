//go:build cgo && linux

// The spare: a child the spawner clones ahead of the next request, with every namespace
// of the init stage but the mount namespace, so that a restart does not wait for the
// clone (most of it CLONE_NEWNET's). What it holds from its clone time, and why that is
// not stale:
// - user: new and empty; the spawner writes the request's maps into it at the request.
// - pid, ipc: new and empty until the stage runs in them.
// - net: new and empty; the spare brings lo up as it starts, which every request it may
//   take asks for (a start in a namespace of its own has the loopback step first), and
//   the stage finds it up. The stage writes the sysctls and the supervisor loads the
//   firewall after the request.
// - session: the spare leads a new one from its start, as every request it may take asks
//   (SPAWN_SETSID); spawn_child then skips setsid. A setsid on the request's path cost
//   0.3 ms (median) there: with autogroups (sched_autogroup_enabled) it moves the caller
//   into a new task group, which reschedules it, and on two busy cores the stage waited
//   for a core (docs/BENCHMARKS.md, session 23).
// - uts: the host's name at clone time, which the stage's hostname step replaces always.
// - cgroup: its root is the spawner's cgroup, as a fresh clone's is (both are the
//   spawner's; v1 moves the stage into its own later, as today); v2 requests that need
//   CLONE_INTO_CGROUP never take the spare.
// - mount: a stack's spare unshares it at the request, ns-root of its user namespace: a
//   table copied hours before would miss the host's mounts made since. The lone run's
//   spare (spare_mounts_ahead: the early spawner's, taken milliseconds later) unshares it
//   as it starts, and the spawner keeps its own mountinfo, opened before the clone: a
//   change to the host's table since (POLLPRI) makes the copy stale, and the request
//   then does not take that spare (it is cloned fresh, or refused when it named it).
//   That spare also makes the mounts no request changes, a /proc and the /dev devices'
//   clones, which the stage takes where its ops would build the same (stage_ahead.c).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "stage_spawn.h"

#define SPARE_FLAGS (SPAWN_NS_FLAGS & ~(uint64_t)CLONE_NEWNS)

static int spare_pid, spare_sock = -1; // the spare and the spawner's end of its socket

int spare_mounts_ahead;     // set by the early spawner: its spare copies the mounts ahead
static int spare_mounts = -1; // that spare's staleness: the host's mountinfo, opened first

// The part of a request the spare gets: the header, not the maps (the spawner's).
#define SPARE_HEAD offsetof(struct request, maps)

// loopback_up brings lo up in the spare's new network namespace, ahead of the request.
// A failure is left to the stage's loopback step, which reports it.
static void loopback_up(void) {
	struct ifreq ifr = {0};
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return;
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP;
		ioctl(s, SIOCSIFFLAGS, &ifr);
	}
	close(s);
}

// spare waits for a request on sock: its header and descriptors, then the go byte.
static void spare(int sock, int mounts_ahead) __attribute__((noreturn));
static void spare(int sock, int mounts_ahead) {
	// The supervisor is the parent (CLONE_PARENT): die with it; EOF: the spawner is gone.
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	prctl(PR_SET_NAME, "confine-spare", 0, 0, 0); // ps tells it from the spawner
	// It may wait hours: nothing of the spawner's but its socket (CVE-2024-21626).
	close_above(0, sock);
	// What every request that may take it asks for, done before it comes (spare_fits).
	int session = setsid() >= 0;
	loopback_up();
	// The mount table of now, owned by the spare's user namespace, as CLONE_NEWNS with
	// CLONE_NEWUSER makes it (the host's mounts locked); its cwd stays the spawner's /.
	if (mounts_ahead && unshare(CLONE_NEWNS) < 0)
		_exit(127); // gone: the request finds it so and clones fresh
	if (mounts_ahead)
		ahead_prepare(); // the mounts no request changes (stage_ahead.c)
	static struct request rq;
	int files[MAX_FILES];
	union { char buf[CMSG_SPACE(sizeof(int) * MAX_FILES)]; struct cmsghdr align; } cbuf;
	struct iovec iov = {.iov_base = &rq, .iov_len = SPARE_HEAD};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.buf,
			     .msg_controllen = sizeof cbuf.buf};
	ssize_t n;
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	if (n != (ssize_t)SPARE_HEAD || !c || c->cmsg_type != SCM_RIGHTS || rq.nfiles > MAX_FILES ||
	    c->cmsg_len != CMSG_LEN(sizeof(int) * rq.nfiles))
		_exit(n == 0 ? 0 : 127);
	memcpy(files, CMSG_DATA(c), sizeof(int) * rq.nfiles);
	if (!mounts_ahead && unshare(CLONE_NEWNS) < 0)
		_exit(127);
	spawn_child(&rq, sock, files, session);
}

void spare_make(void) {
	if (spare_sock >= 0)
		return;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return; // no spare: the next request clones fresh
	// Opened before the clone: a change to the host's table after it is seen, even one
	// that came before the spare's copy (a needless fresh clone, never a stale table).
	int mounts = spare_mounts_ahead ? open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC) : -1;
	struct spawn_clone_args a = {.flags = SPARE_FLAGS | CLONE_PARENT};
	long pid = syscall(SYS_clone3, &a, sizeof a);
	if (pid == 0)
		spare(sv[0], mounts >= 0);
	close(sv[0]);
	if (pid < 0) {
		close(sv[1]);
		if (mounts >= 0)
			close(mounts);
		return;
	}
	spare_pid = (int)pid, spare_sock = sv[1], spare_mounts = mounts;
	tell(MSG_SPARE, spare_pid, 0);
}

int spare_is(int32_t pid) { return spare_sock >= 0 && spare_pid == pid; }

// A request that takes the spare asks for a new session and every namespace (so the
// stage's loopback step), as the spare made ahead.
int spare_fits(const struct request *rq) {
	return spare_sock >= 0 && rq->flags == SPAWN_NS_FLAGS && !rq->cgroup && (rq->opts & SPAWN_SETSID);
}

// spare_stale: the host's mount table changed since the spare copied it ahead.
static int spare_stale(void) {
	if (spare_mounts < 0)
		return 0; // it copies the table at the request
	struct pollfd p = {.fd = spare_mounts, .events = POLLPRI};
	int changed = poll(&p, 1, 0) != 0 && (p.revents & (POLLPRI | POLLERR | POLLNVAL));
	close(spare_mounts);
	spare_mounts = -1;
	return changed;
}

// spare_take hands rq's descriptors to the spare and writes its maps; it returns the
// socket that lets it go on, or -1. A spare that is gone (killed), or whose mount table
// is stale, is dropped, the supervisor told so reaps it, and the request clones fresh (-2).
int spare_take(const struct request *rq, const int *fds, int32_t reply[2]) {
	int sock = spare_sock;
	spare_sock = -1;
	if (spare_stale()) {
		close(sock); // EOF: the spare exits
		tell(MSG_SPARE_GONE, spare_pid, 0);
		return -2; // the caller clones fresh
	}
	union { char buf[CMSG_SPACE(sizeof(int) * MAX_FILES)]; struct cmsghdr align; } cbuf;
	memset(&cbuf, 0, sizeof cbuf);
	struct iovec iov = {.iov_base = (void *)rq, .iov_len = SPARE_HEAD};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.buf,
			     .msg_controllen = CMSG_SPACE(sizeof(int) * rq->nfiles)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET, c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * rq->nfiles);
	memcpy(CMSG_DATA(c), fds, sizeof(int) * rq->nfiles);
	if (sendmsg(sock, &msg, MSG_NOSIGNAL) != (ssize_t)SPARE_HEAD) {
		close(sock);
		tell(MSG_SPARE_GONE, spare_pid, 0);
		return -2; // the caller clones fresh
	}
	reply[0] = spare_pid;
	reply[1] = write_map(spare_pid, "uid_map", rq->maps, rq->uidlen);
	if (!reply[1])
		reply[1] = write_map(spare_pid, "gid_map", rq->maps + rq->uidlen, rq->gidlen);
	if (reply[1]) {
		close(sock); // EOF: the spare exits
		return -1;
	}
	return sock;
}
