//go:build cgo && linux

// The C init stage runs from a constructor, before the Go runtime starts (runc's nsexec
// does the same), when the parent set _CONFINE_STAGE in the re-executed binary's
// environment, or in a child of the spawner: it reads the program the parent rendered from the steps table on fd 3,
// runs its ops in order with raw syscalls and execs the component. Any other start of the
// binary returns from the constructor at once.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "stage.h"

enum { FD_PROGRAM = 3, FD_ERROR = 4, FD_GO = 5 };

#ifndef SECCOMP_FILTER_FLAG_LOG
#define SECCOMP_FILTER_FLAG_LOG (1UL << 1)
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

static int64_t trace_origin;
static const char *step_name; // the step that runs, for the trace
static int64_t step_start;

static int64_t now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

// span prints one trace line in internal/trace's format.
static void span(const char *name, int64_t start, int64_t end) {
	if (trace_origin == 0)
		return;
	dprintf(2, "confine-trace %-6s %-18s %7lld µs  @%7lld µs\n", "init", name,
		(long long)((end - start) / 1000), (long long)((end - trace_origin) / 1000));
}

int64_t stage_now(void) { return now(); }
void stage_span(const char *name, int64_t start, int64_t end) { span(name, start, end); }

static void step_done(void) {
	if (step_name)
		span(step_name, step_start, now());
	step_name = NULL;
}

uint64_t op_int(const struct op *op, unsigned i) {
	uint64_t v;
	if (i >= op->nint)
		return 0;
	memcpy(&v, op->ints + 8 * (size_t)i, 8);
	return v;
}

static void put32(unsigned char *p, uint32_t v) { memcpy(p, &v, 4); }

// The error record: "\0CST", op index, errno, kind, aux (u64), detail length, detail.
void stage_fail(const struct op *op, int err, unsigned kind, uint64_t aux, const char *detail) {
	unsigned char buf[4096];
	size_t n = detail ? strlen(detail) : 0;
	if (n > sizeof(buf) - 28)
		n = sizeof(buf) - 28;
	memcpy(buf, "\0CST", 4);
	put32(buf + 4, op ? op->index : 0xffffffff);
	put32(buf + 8, (uint32_t)err);
	put32(buf + 12, kind);
	memcpy(buf + 16, &aux, 8);
	put32(buf + 24, (uint32_t)n);
	if (n)
		memcpy(buf + 28, detail, n);
	if (write(FD_ERROR, buf, 28 + n) < 0) {
		// The parent is gone: nothing to report to.
	}
	_exit(1);
}

static unsigned char *read_program(size_t *len) {
	size_t cap = 1 << 16, n = 0;
	unsigned char *buf = malloc(cap);
	for (;;) {
		if (!buf)
			stage_fail(NULL, ENOMEM, 1, 0, "reading the program");
		if (n == cap)
			buf = realloc(buf, cap *= 2);
		if (!buf)
			continue;
		ssize_t r = read(FD_PROGRAM, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			stage_fail(NULL, errno, 1, 0, "reading the program");
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(FD_PROGRAM);
	*len = n;
	return buf;
}

static uint16_t get16(const unsigned char *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static uint32_t get32(const unsigned char *p) { uint32_t v; memcpy(&v, p, 4); return v; }

// parse_op reads the op at *pos (header, ints, strings, each string NUL-terminated).
static int parse_op(const unsigned char *buf, size_t len, size_t *pos, struct op *op) {
	size_t p = *pos;
	if (len - p < 8)
		return -1;
	op->code = get16(buf + p), op->step = get16(buf + p + 2);
	op->nint = get16(buf + p + 4), op->nstr = get16(buf + p + 6);
	p += 8;
	if ((len - p) / 8 < op->nint)
		return -1;
	op->ints = buf + p;
	p += 8 * (size_t)op->nint;
	op->strs = calloc(op->nstr + 1, sizeof(char *));
	op->lens = calloc(op->nstr + 1, sizeof(uint32_t));
	if (!op->strs || !op->lens)
		return -1;
	for (unsigned i = 0; i < op->nstr; i++) {
		if (len - p < 4)
			return -1;
		uint32_t n = get32(buf + p);
		p += 4;
		if (len - p < (size_t)n + 1 || buf[p + n] != 0)
			return -1;
		((uint32_t *)op->lens)[i] = n;
		op->strs[i] = (const char *)buf + p;
		p += n + 1;
	}
	*pos = p;
	return 0;
}

static void op_write(const struct op *op) {
	char d[4200];
	int fd = open(op->strs[0], O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0) {
		snprintf(d, sizeof d, "open %s", op->strs[0]);
		stage_fail(op, errno, 0, 0, d);
	}
	if (write(fd, op->strs[1], op->lens[1]) != (ssize_t)op->lens[1]) {
		snprintf(d, sizeof d, "write %s", op->strs[0]);
		stage_fail(op, errno, 0, 0, d);
	}
	close(fd);
}

static void op_loopback(const struct op *op) {
	struct ifreq ifr = {0};
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		stage_fail(op, errno, 0, 0, "socket");
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		stage_fail(op, errno, 0, 0, "SIOCGIFFLAGS lo");
	// Up already in a spare's namespace: the spare brought it up ahead (stage_spare.c).
	if (!(ifr.ifr_flags & IFF_UP)) {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
			stage_fail(op, errno, 0, 0, "SIOCSIFFLAGS lo");
	}
	close(s);
}

// The tasks descriptors of the v1 hierarchies that came with the go signal, in the
// order the parent sent them (one per hierarchy: cpu, memory, pids, freezer at most).
enum { MAX_CGROUP_FDS = 16 };
static int cgroup_fds[MAX_CGROUP_FDS];
static unsigned ncgroup_fds;

static void op_wait_go(const struct op *op) {
	char b;
	union { char buf[CMSG_SPACE(sizeof(int) * MAX_CGROUP_FDS)]; struct cmsghdr align; } cbuf; // aligned for CMSG_FIRSTHDR
	struct iovec iov = {.iov_base = &b, .iov_len = 1};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.buf,
			     .msg_controllen = sizeof cbuf.buf};
	ssize_t n;
	do
		n = recvmsg(FD_GO, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		stage_fail(op, n < 0 ? errno : 0, 1, 0, NULL);
	if (msg.msg_flags & MSG_CTRUNC)
		stage_fail(op, EMSGSIZE, 2, 0, "receiving the cgroup descriptors");
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		unsigned k = (unsigned)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (unsigned i = 0; i < k && ncgroup_fds < MAX_CGROUP_FDS; i++)
			memcpy(&cgroup_fds[ncgroup_fds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
	}
}

// op_cgroup_self moves this single-threaded process into its cgroup in each v1
// hierarchy: "0" is the writer itself, which skips cgroup_threadgroup_rwsem and its
// grace period; the kernel checks the opener's (the supervisor's) credentials.
static void op_cgroup_self(const struct op *op) {
	for (unsigned i = 0; i < ncgroup_fds; i++) {
		if (write(cgroup_fds[i], "0", 1) != 1)
			stage_fail(op, errno, 0, i, NULL);
		close(cgroup_fds[i]);
	}
	ncgroup_fds = 0;
}

// op_close_fds closes every descriptor past stdio but the error pipe, which exec closes
// (runc CVE-2024-21626: nothing of confine's reaches the component).
static void op_close_fds(const struct op *op) {
	syscall(SYS_close_range, 3, FD_ERROR - 1, 0);
	if (syscall(SYS_close_range, FD_ERROR + 1, ~0U, 0) < 0)
		for (int fd = FD_ERROR + 1; fd < 65536; fd++)
			close(fd);
	if (fcntl(FD_ERROR, F_SETFD, FD_CLOEXEC) < 0)
		stage_fail(op, errno, 0, 0, NULL);
}

static void op_seccomp(const struct op *op) {
	if (op->nstr < 1 || op->lens[0] == 0 || op->lens[0] % 8 != 0 || op->lens[0] / 8 > 0xffff)
		stage_fail(op, 0, 1, 0, NULL);
	struct sock_fprog prog = {.len = (unsigned short)(op->lens[0] / 8),
				  .filter = (struct sock_filter *)(void *)op->strs[0]};
	// The strings are not 8-aligned: copy the program where the kernel may read it.
	void *aligned = malloc(op->lens[0]);
	if (!aligned)
		stage_fail(op, ENOMEM, 0, 0, NULL);
	memcpy(aligned, op->strs[0], op->lens[0]);
	prog.filter = aligned;
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_LOG, &prog) < 0) {
		if (errno != EINVAL || syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
			stage_fail(op, errno, 0, 0, NULL);
	}
}

static void run(const struct op *op) {
	switch (op->code) {
	case OP_STEP:
		step_done();
		step_name = op->strs[0], step_start = now();
		return;
	case OP_MOUNT: op_mount(op); return;
	case OP_RECV_MOUNTS: op_recv_mounts(op); return;
	case OP_BIND: op_bind(op); return;
	case OP_REQUIRE: op_require(op); return;
	case OP_SYMLINK: op_symlink(op); return;
	case OP_READONLY: op_readonly(op); return;
	case OP_PIVOT: op_pivot(op); return;
	case OP_MASK: op_mask(op); return;
	case OP_BIND_RO: op_bind_ro(op); return;
	case OP_HOSTNAME:
		if (sethostname(op->strs[0], op->lens[0]) < 0)
			stage_fail(op, errno, 0, 0, NULL);
		return;
	case OP_RLIMIT: {
		struct rlimit rl = {.rlim_cur = op_int(op, 1), .rlim_max = op_int(op, 2)};
		if (setrlimit((int)op_int(op, 0), &rl) < 0)
			stage_fail(op, errno, 0, 0, NULL);
		return;
	}
	case OP_PRCTL:
		if (prctl((int)op_int(op, 0), op_int(op, 1), 0, 0, 0) < 0)
			stage_fail(op, errno, 0, 0, NULL);
		return;
	case OP_WRITE: op_write(op); return;
	case OP_LOOPBACK: op_loopback(op); return;
	case OP_CAPS: op_caps(op); return;
	case OP_LANDLOCK: op_landlock(op); return;
	case OP_WAIT_GO: op_wait_go(op); return;
	case OP_CLOSE_FDS: op_close_fds(op); return;
	case OP_CHDIR:
		if (chdir(op->strs[0]) < 0)
			stage_fail(op, errno, 0, 0, NULL);
		return;
	case OP_SECCOMP: op_seccomp(op); return;
	case OP_STAGE_HOSTS: op_stage_hosts(op); return;
	case OP_MOUNT_HOSTS: op_mount_hosts(op); return;
	case OP_CGROUP_SELF: op_cgroup_self(op); return;
	case OP_GROUPS: op_groups(op); return;
	case OP_USER: op_user(op); return;
	case OP_SAFE_TARGET: op_safe_target(op); return;
	case OP_UPPER: op_upper(op); return;
	case OP_ATTACH: op_attach(op); return;
	case OP_AHEAD: op_ahead(op); return;
	case OP_EXEC:
		step_done();
		op_exec(op);
	}
	stage_fail(op, EINVAL, 2, op->code, "unknown op");
}

// Declared minimums: an op's fields are checked once, here, so the ops can index them.
static const unsigned min_strs[OP_MAX] = {
	[OP_STEP] = 1, [OP_MOUNT] = 4, [OP_BIND] = 2, [OP_REQUIRE] = 1, [OP_SYMLINK] = 2,
	[OP_PIVOT] = 1, [OP_MASK] = 1, [OP_BIND_RO] = 1, [OP_HOSTNAME] = 1, [OP_WRITE] = 2,
	[OP_CHDIR] = 1, [OP_SECCOMP] = 1, [OP_EXEC] = 1, [OP_STAGE_HOSTS] = 3, [OP_MOUNT_HOSTS] = 1,
	[OP_USER] = 2, [OP_SAFE_TARGET] = 3, [OP_UPPER] = 3, [OP_ATTACH] = 2,
};
static const unsigned min_ints[OP_MAX] = {
	[OP_MOUNT] = 2, [OP_BIND] = 3, [OP_RLIMIT] = 3, [OP_PRCTL] = 2, [OP_CAPS] = 9,
	[OP_LANDLOCK] = 7, [OP_EXEC] = 1, [OP_MOUNT_HOSTS] = 2, [OP_GROUPS] = 1, [OP_USER] = 3,
	[OP_SAFE_TARGET] = 1, [OP_UPPER] = 2, [OP_ATTACH] = 3, [OP_AHEAD] = 2,
};

// run_at is the index of "run" in `confine run …` or `confine --store DIR run …` (the
// one global flag that takes a value), else 0.
static int run_at(int argc, char **argv) {
	int i = 1;
	if (i < argc && strcmp(argv[i], "--store") == 0)
		i += 2;
	else if (i < argc && strncmp(argv[i], "--store=", 8) == 0)
		i++;
	return i < argc && strcmp(argv[i], "run") == 0 ? i : 0;
}

// The constructor: "1" runs the stage (a re-executed init stage), "spawner" the
// pre-forked spawner (stage_spawn.c), whose children enter stage_main without an exec.
// Unmarked, the slim binary hands every command but a plain run to the full one
// (stage_slim.c), and `confine run` as root forks its early spawner (stage_early.c),
// unless the Go init is asked for. glibc passes main's arguments to constructors.
__attribute__((constructor)) static void confine_stage(int argc, char **argv) {
	const char *mark = getenv("_CONFINE_STAGE");
	if (!mark) {
		if (stage_slim_binary)
			slim_front(argv); // returns only when the command stays in this binary
		else
			full_named();
		if (!run_at(argc, argv))
			return;
		const char *go = getenv("CONFINE_STAGE");
		if (geteuid() == 0 && !(go && strcmp(go, "go") == 0))
			early_spawner();
		return;
	}
	if (strcmp(mark, "1") == 0)
		stage_main();
	if (strcmp(mark, "spawner") == 0)
		spawner_main();
}

// The program, read whole: the loop's position, and the ops it is to skip (stage_skip).
static const unsigned char *prog;
static size_t prog_len, prog_pos;
static unsigned prog_nops, prog_index;
static unsigned skip_n;
static uint64_t skip_mask;

// parse_checked is parse_op with the checks every op passes before it runs.
static int parse_checked(size_t *pos, unsigned index, struct op *op) {
	memset(op, 0, sizeof *op);
	op->index = index;
	if (index >= prog_nops || parse_op(prog, prog_len, pos, op) < 0 || op->code == 0 || op->code >= OP_MAX ||
	    op->nstr < min_strs[op->code] || op->nint < min_ints[op->code]) {
		stage_op_free(op);
		return -1;
	}
	return 0;
}

void stage_op_free(struct op *op) {
	free(op->strs);
	free((void *)op->lens);
	op->strs = NULL, op->lens = NULL;
}

void stage_cursor(struct cursor *c) { c->pos = prog_pos, c->index = prog_index + 1; }

int stage_next(struct cursor *c, struct op *op) {
	if (parse_checked(&c->pos, c->index, op) < 0)
		return -1;
	c->index++;
	return 0;
}

void stage_skip(unsigned n, uint64_t mask) { skip_n = n > 64 ? 64 : n, skip_mask = mask; }

void stage_main(void) {
	int64_t entered = now();
	// Non-dumpable until exec (runc CVE-2016-9962): no process of the sandbox can ptrace
	// this one or open its /proc files while it holds the parent's descriptors.
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	size_t len;
	unsigned char *buf = read_program(&len);
	// The header: "CST1", the op count, the trace origin, when the parent began the clone.
	if (len < 24 || memcmp(buf, "CST1", 4) != 0)
		stage_fail(NULL, EINVAL, 1, 0, "not a stage program");
	prog = buf, prog_len = len, prog_pos = 24, prog_nops = get32(buf + 4);
	int64_t started;
	memcpy(&trace_origin, buf + 8, 8);
	memcpy(&started, buf + 16, 8);
	span("runtime_start", started, entered);
	span("config", entered, now());
	for (prog_index = 0; prog_index < prog_nops; prog_index++) {
		struct op op;
		if (parse_checked(&prog_pos, prog_index, &op) < 0)
			stage_fail(NULL, EINVAL, 1, prog_index, "malformed program");
		int skip = skip_n && (skip_mask & 1);
		if (skip_n)
			skip_n--, skip_mask >>= 1;
		if (!skip)
			run(&op);
		stage_op_free(&op);
	}
	stage_fail(NULL, EINVAL, 1, 0, "the program ends without exec");
}
