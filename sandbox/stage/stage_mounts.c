//go:build cgo && linux

// The mounts step's ops: the same calls, in the same order, as sandbox/mounts_linux.go.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "stage.h"

enum { FD_MOUNTS = 6, MAX_DETACHED = 4096, MAX_READONLY = 4096 };

#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#ifndef MOVE_MOUNT_T_EMPTY_PATH
#define MOVE_MOUNT_T_EMPTY_PATH 0x00000040
#endif

static int detached[MAX_DETACHED]; // mount index + 1 → descriptor + 1 (0: none)
static char *readonly[MAX_READONLY];
static char *readonly_at[MAX_READONLY]; // the path remounted: a held descriptor's, or readonly's
static unsigned nreadonly;

static char detail[PATH_MAX * 2 + 64];

static void failf(const struct op *op, int err, const char *call, const char *path) {
	if (call)
		snprintf(detail, sizeof detail, "%s %s", call, path);
	stage_fail(op, err, 0, 0, call ? detail : NULL);
}

// mkdir_all is os.MkdirAll(path, 0755): it fails naming the directory it could not make.
static int mkdir_all(const char *path, const struct op *op) {
	struct stat st;
	if (stat(path, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return 0;
		failf(op, ENOTDIR, "mkdir", path);
	}
	char parent[PATH_MAX];
	size_t n = strlen(path);
	if (n >= sizeof parent)
		failf(op, ENAMETOOLONG, "mkdir", path);
	memcpy(parent, path, n + 1);
	while (n > 1 && parent[n - 1] == '/')
		parent[--n] = 0;
	char *slash = strrchr(parent, '/');
	if (slash && slash != parent) {
		*slash = 0;
		mkdir_all(parent, op);
	}
	if (mkdir(path, 0755) < 0) {
		int err = errno;
		if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
			return 0;
		failf(op, err, "mkdir", path);
	}
	return 0;
}

static void dirname_of(const char *path, char *out) {
	snprintf(out, PATH_MAX, "%s", path);
	char *slash = strrchr(out, '/');
	if (slash == out)
		out[1] = 0;
	else if (slash)
		*slash = 0;
}

static void make_mount_point(const char *target, int dir, const struct op *op) {
	if (dir) {
		mkdir_all(target, op);
		return;
	}
	char parent[PATH_MAX];
	dirname_of(target, parent);
	mkdir_all(parent, op);
	int fd = open(target, O_CREAT | O_RDONLY | O_CLOEXEC, 0644);
	if (fd < 0)
		failf(op, errno, "open", target);
	close(fd);
}

#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
struct stage_mount_attr { uint64_t attr_set, attr_clr, propagation, userns_fd; };
enum { ATTR_RDONLY = 0x1, ATTR_NOSUID = 0x2, ATTR_NODEV = 0x4, ATTR_NOEXEC = 0x8 };
static int no_setattr; // the kernel has no mount_setattr (before 5.12)

// remount adds flags to a bind mount, keeping what it has, what the kernel locked on it
// among them: mount_setattr sets only what it is given, where a remount sets the flags
// whole and must restate the locked ones (a statfs first). No flags: nothing to add, and
// the bind keeps the source's. mounts_linux.go's remount makes the same calls.
static void remount_as(const char *target, unsigned long flags, const struct op *op, const char *detail) {
	if (!(flags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)))
		return;
	if (!no_setattr) {
		struct stage_mount_attr a = {0};
		if (flags & MS_RDONLY) a.attr_set |= ATTR_RDONLY;
		if (flags & MS_NOSUID) a.attr_set |= ATTR_NOSUID;
		if (flags & MS_NODEV) a.attr_set |= ATTR_NODEV;
		if (flags & MS_NOEXEC) a.attr_set |= ATTR_NOEXEC;
		if (syscall(SYS_mount_setattr, AT_FDCWD, target, 0, &a, sizeof a) == 0)
			return;
		if (errno != ENOSYS)
			stage_fail(op, errno, 0, 0, detail);
		no_setattr = 1;
	}
	struct statvfs st;
	if (statvfs(target, &st) < 0)
		stage_fail(op, errno, 0, 0, detail);
	if (st.f_flag & ST_NOSUID) flags |= MS_NOSUID;
	if (st.f_flag & ST_NODEV) flags |= MS_NODEV;
	if (st.f_flag & ST_NOEXEC) flags |= MS_NOEXEC;
	if (st.f_flag & ST_RDONLY) flags |= MS_RDONLY;
	if (mount("", target, "", MS_BIND | MS_REMOUNT | flags, "") < 0)
		stage_fail(op, errno, 0, 0, detail);
}

static void remount(const char *target, unsigned long flags, const struct op *op) {
	remount_as(target, flags, op, NULL);
}

// op_mount: a target OP_SAFE_TARGET checked is mounted on by its held descriptor.
void op_mount(const struct op *op) {
	const char *target = op->strs[1], *at = op_int(op, 1) ? stage_at(target, 1, op) : target;
	if (at == target && op_int(op, 1))
		mkdir_all(target, op);
	const char *src = op->lens[0] ? op->strs[0] : "";
	if (mount(src, at, op->lens[2] ? op->strs[2] : NULL, op_int(op, 0),
		  op->lens[3] ? op->strs[3] : NULL) < 0)
		stage_fail(op, errno, 0, 0, NULL);
	if (at != target)
		stage_checked_done();
}

void op_recv_mounts(const struct op *op) {
	for (;;) {
		uint32_t idx;
		union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } cbuf; // aligned for CMSG_FIRSTHDR
		struct iovec iov = {.iov_base = &idx, .iov_len = sizeof idx};
		struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.buf,
				     .msg_controllen = sizeof cbuf.buf};
		ssize_t n = recvmsg(FD_MOUNTS, &msg, MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			stage_fail(op, errno, 0, 0, "receiving the idmapped mounts");
		if (n == 0) {
			close(FD_MOUNTS);
			return;
		}
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		if (n != 4 || !c || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int)) ||
		    idx >= MAX_DETACHED)
			stage_fail(op, 0, 1, 0, "receiving the idmapped mounts: malformed message");
		int fd;
		memcpy(&fd, CMSG_DATA(c), sizeof fd);
		detached[idx] = fd + 1;
	}
}

// push_readonly keeps a read-only bind for op_readonly; past MAX_READONLY (stage.MaxMounts,
// which the parent checks) it fails rather than leave the bind writable.
static void push_readonly(const struct op *op, const char *target, const char *at, unsigned long flags) {
	if (!(flags & MS_RDONLY))
		return;
	if (nreadonly >= MAX_READONLY)
		stage_fail(op, E2BIG, 0, 0, "too many read-only mounts");
	readonly_at[nreadonly] = strdup(at);
	readonly[nreadonly++] = strdup(target);
}

// bound is where a bind's flags go once made: the mount on a checked target, by a
// descriptor held until op_readonly when it becomes read-only; else target. made is
// the mount itself when known (a detached one attached there), else -1: reopened.
static const char *bound(const char *target, unsigned long flags, const struct stat *want, int made, char *buf,
			 size_t n, const struct op *op) {
	int top = made;
	if (made >= 0)
		stage_checked_done();
	else
		top = stage_top(target, op, want);
	if (top < 0)
		return target;
	snprintf(buf, n, "/proc/self/fd/%d", top);
	remount(buf, flags & ~MS_RDONLY, op);
	if (!(flags & MS_RDONLY))
		close(top);
	return buf;
}

// op_bind is mountOne for a bind: the parent's detached mount when it sent one, else a
// recursive bind of the source, or the symlink itself when source and target are one path.
void op_bind(const struct op *op) {
	unsigned idx = (unsigned)op_int(op, 0);
	unsigned long flags = op_int(op, 1);
	const char *src = op->strs[0], *target = op->strs[1];
	struct stat st;
	int made = -1, fd = -1;
	if (idx < MAX_DETACHED && detached[idx]) {
		fd = detached[idx] - 1, detached[idx] = 0;
		if (fstat(fd, &st) < 0)
			stage_fail(op, errno, 0, 0, NULL);
	} else if ((fd = ahead_dev(src, flags, &st)) >= 0) {
		flags = 0; // the spare's clone has them (stage_ahead.c)
	}
	if (fd >= 0) {
		int to = AT_FDCWD, how = MOVE_MOUNT_F_EMPTY_PATH;
		made = fd;
		const char *to_path = target;
		if (stage_at(target, S_ISDIR(st.st_mode), op) != target) // onto the checked descriptor
			to = stage_checked_fd(), to_path = "", how |= MOVE_MOUNT_T_EMPTY_PATH;
		else
			make_mount_point(target, S_ISDIR(st.st_mode), op);
		if (syscall(SYS_move_mount, fd, "", to, to_path, how) < 0)
			stage_fail(op, errno, 0, 0, "move_mount");
		if (to == AT_FDCWD) // else the mount, attached, takes its flags by fd: no name reopened
			close(fd), made = -1;
	} else {
		if (lstat(src, &st) < 0)
			failf(op, errno, "lstat", src);
		if (S_ISLNK(st.st_mode) && op_int(op, 2)) {
			char dest[PATH_MAX], parent[PATH_MAX];
			ssize_t n = readlink(src, dest, sizeof dest - 1);
			if (n < 0)
				failf(op, errno, "readlink", src);
			dest[n] = 0;
			const char *name; // a checked target: the link is made beneath its held parent
			int pdir = stage_checked_dir(&name, target);
			if (pdir < 0) {
				pdir = AT_FDCWD, name = target;
				dirname_of(target, parent);
				mkdir_all(parent, op);
			}
			int r = symlinkat(dest, pdir, name);
			stage_checked_done();
			if (r < 0) {
				snprintf(detail, sizeof detail, "symlink %s %s", dest, target);
				stage_fail(op, errno, 0, 0, detail);
			}
			return;
		}
		const char *at = stage_at(target, S_ISDIR(st.st_mode), op);
		if (at == target) {
			make_mount_point(target, S_ISDIR(st.st_mode), op);
			if (mount(src, at, "", MS_BIND | MS_REC, "") < 0)
				stage_fail(op, errno, 0, 0, NULL);
		} else { // the recursive bind as a mount of its own, attached onto the checked
			 // descriptor: its flags go to it by fd, not to what the name holds by then
			made = (int)syscall(SYS_open_tree, AT_FDCWD, src, OPEN_TREE_CLONE | AT_RECURSIVE | O_CLOEXEC);
			if (made < 0)
				failf(op, errno, "open_tree", src);
			if (syscall(SYS_move_mount, made, "", stage_checked_fd(), "",
				    MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
				stage_fail(op, errno, 0, 0, "move_mount");
		}
	}
	char buf[32];
	const char *at = bound(target, flags, &st, made, buf, sizeof buf, op);
	if (at == target)
		remount(target, flags & ~MS_RDONLY, op);
	push_readonly(op, target, at, flags);
}

void op_require(const struct op *op) {
	struct stat st;
	if (lstat(op->strs[0], &st) == 0)
		return;
	if (errno == ENOENT)
		stage_fail(op, errno, 1, 0, NULL);
	failf(op, errno, "lstat", op->strs[0]);
}

void op_symlink(const struct op *op) {
	if (symlink(op->strs[0], op->strs[1]) < 0) {
		snprintf(detail, sizeof detail, "symlink %s %s", op->strs[0], op->strs[1]);
		stage_fail(op, errno, 0, 0, detail);
	}
}

// op_readonly remounts the read-only binds once everything beneath them exists.
void op_readonly(const struct op *op) {
	while (nreadonly > 0) {
		--nreadonly;
		remount_as(readonly_at[nreadonly], MS_RDONLY | MS_NOSUID | MS_NODEV, op, readonly[nreadonly]);
		int fd;
		if (sscanf(readonly_at[nreadonly], "/proc/self/fd/%d", &fd) == 1)
			close(fd); // bound's, held for this remount
	}
}

void op_pivot(const struct op *op) {
	if (chdir(op->strs[0]) < 0)
		stage_fail(op, errno, 0, 0, NULL);
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		stage_fail(op, errno, 0, 0, NULL);
	if (umount2(".", MNT_DETACH) < 0)
		stage_fail(op, errno, 0, 0, "detaching the old root");
	if (chdir("/") < 0)
		stage_fail(op, errno, 0, 0, NULL);
}

void op_mask(const struct op *op) {
	struct stat st;
	const char *p = op->strs[0];
	if (stat(p, &st) < 0) {
		if (errno == ENOENT)
			return;
		failf(op, errno, "stat", p);
	}
	int r = S_ISDIR(st.st_mode)
		? mount("tmpfs", p, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0")
		: mount("/dev/null", p, "", MS_BIND, "");
	if (r < 0)
		stage_fail(op, errno, 0, 0, NULL);
}

void op_bind_ro(const struct op *op) {
	struct stat st;
	const char *p = op->strs[0];
	if (stat(p, &st) < 0 && errno == ENOENT)
		return;
	if (mount(p, p, "", MS_BIND | MS_REC, "") < 0)
		stage_fail(op, errno, 0, 0, NULL);
	remount(p, MS_RDONLY | MS_NOSUID | MS_NODEV, op);
}

static int staged[2] = {-1, -1}; // O_PATH descriptors of the staged hosts and resolv.conf

// op_stage_hosts is stageHosts: a small tmpfs on the root before anything is mounted
// over it, holding the files; the descriptors keep them reachable once it is hidden.
void op_stage_hosts(const struct op *op) {
	const char *root = op->strs[0];
	char path[PATH_MAX];
	if (mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=64k,mode=0755") < 0)
		stage_fail(op, errno, 0, 0, NULL);
	for (int i = 0; i < 2; i++) {
		if (i == 1 && op->lens[2] == 0)
			break;
		snprintf(path, sizeof path, "%s/%s", root, i ? "resolv.conf" : "hosts");
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0)
			failf(op, errno, "open", path);
		if (write(fd, op->strs[1 + i], op->lens[1 + i]) != (ssize_t)op->lens[1 + i])
			failf(op, errno, "write", path);
		close(fd);
		if ((staged[i] = open(path, O_PATH | O_CLOEXEC)) < 0)
			stage_fail(op, errno, 0, 0, NULL);
	}
}

// op_mount_hosts is mountHosts: the staged file, read-only, over target.
void op_mount_hosts(const struct op *op) {
	int fd = staged[op_int(op, 0) ? 1 : 0];
	const char *target = op->strs[0];
	struct stat st;
	char src[64], parent[PATH_MAX];
	if (fd < 0)
		stage_fail(op, EBADF, 0, 0, NULL);
	const char *at = stage_at(target, 0, op);
	if (at == target && stat(target, &st) < 0 && errno == ENOENT) {
		if (op_int(op, 1))
			stage_fail(op, ENOENT, 1, 0, NULL);
		dirname_of(target, parent);
		mkdir_all(parent, op);
		int f = open(target, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (f < 0)
			failf(op, errno, "open", target);
		close(f);
	}
	snprintf(src, sizeof src, "/proc/self/fd/%d", fd);
	if (mount(src, at, "", MS_BIND, "") < 0)
		stage_fail(op, errno, 0, 0, NULL);
	char top[32];
	if (fstat(fd, &st) < 0)
		stage_fail(op, errno, 0, 0, NULL);
	int tfd = stage_top(target, op, &st);
	if (tfd >= 0)
		snprintf(top, sizeof top, "/proc/self/fd/%d", tfd);
	if (mount("", tfd >= 0 ? top : target, "", MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "") < 0)
		stage_fail(op, errno, 0, 0, NULL);
	if (tfd >= 0)
		close(tfd);
	close(fd);
}

void stage_mkdir_all(const char *path, const struct op *op) { mkdir_all(path, op); }

int stage_detached(unsigned idx) { return idx < MAX_DETACHED && detached[idx]; }

void stage_remount(const char *target, unsigned long flags, const struct op *op) { remount(target, flags, op); }
