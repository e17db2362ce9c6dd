//go:build cgo && linux

// The mounts the lone run's spare makes ahead of its request (stage_spare.c), while the
// supervisor's Go runtime starts: the pieces of the mounts step that neither the id maps
// nor the request change, for the Plan's defaults (policy/compile_mounts.go):
// - a proc of the spare's pid namespace (it is pid 1 there), detached, with the masks of
//   its files (/dev/null binds) and the read-only binds of its directories on it;
// - a clone of each host device of the minimal /dev, nosuid and noexec, detached.
// The tmpfs instances (/dev, /dev/shm, a masked directory's) and devpts wait for their
// ops: their owner is their creator's id, which means nothing before the spawner writes
// the maps (the mountinfo of a tmpfs made ahead says so: no uid=, where the stage's says
// uid=HOSTID). A program takes a piece only where its ops would build exactly that
// piece, which op_ahead and ahead_dev check: the ops' fields, the sources still the same
// files. Otherwise its ops build everything as with a fresh clone.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "stage.h"
#include "stage_spawn.h"

#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_fsopen
#define SYS_fsopen 430
#define SYS_fsconfig 431
#define SYS_fsmount 432
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
enum { A_TREE_CLONE = 1, A_RECURSIVE = 0x8000, A_F_EMPTY = 4, A_T_SYMLINKS = 0x10, A_T_EMPTY = 0x40 };
enum { A_RDONLY = 1, A_NOSUID = 2, A_NODEV = 4, A_NOEXEC = 8, A_SET_STRING = 1, A_CMD_CREATE = 6, A_CLOEXEC = 1 };
struct ahead_attr { uint64_t set, clr, propagation, userns_fd; };

// The recipe, policy/compile_mounts.go's maskedPaths, readonlyPaths and devices.
static const char *const masks[] = {"/proc/acpi", "/proc/interrupts", "/proc/kallsyms", "/proc/kcore",
	"/proc/keys", "/proc/latency_stats", "/proc/sched_debug", "/proc/scsi", "/proc/timer_list",
	"/proc/timer_stats", "/sys/firmware"};
static const char *const ro[] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"};
static const char *const devs[] = {"/dev/full", "/dev/null", "/dev/random", "/dev/tty", "/dev/urandom", "/dev/zero"};
enum { NMASKS = sizeof masks / sizeof *masks, NRO = sizeof ro / sizeof *ro, NDEVS = sizeof devs / sizeof *devs };

// What each mask and read-only path of the recipe leaves to its op: nothing (missing, as
// its op finds it), nothing (made ahead), or the op itself (a directory's tmpfs, a path
// outside /proc), which then runs as without the spare.
enum { LEFT_NONE, LEFT_DONE, LEFT_OP };
static unsigned char left[NMASKS + NRO];

// The pieces, held at AHEAD_FD + slot so that spawn_child's closes spare them: slot 0 the
// proc, then the devices. null_st and null_flags: the /dev/null the masks were cloned from.
static int held[1 + NDEVS] = {-1, -1, -1, -1, -1, -1, -1};
static struct stat dev_st[NDEVS], null_st;
static unsigned long null_flags;
static int proc_taken;
static int64_t made_from, made_to; // when ahead_prepare ran, for the trace's spare_mounts

int ahead_fd_end(void) {
	for (int i = 0; i < 1 + NDEVS; i++)
		if (held[i] >= 0)
			return AHEAD_FD + 1 + NDEVS;
	return 0;
}

void ahead_forget(void) {
	for (int i = 0; i < 1 + NDEVS; i++)
		held[i] = -1;
}

static int same_file(const struct stat *a, const struct stat *b) {
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_mode == b->st_mode && a->st_rdev == b->st_rdev;
}

static int setattr(int fd, unsigned flags, uint64_t set) {
	struct ahead_attr a = {.set = set};
	return (int)syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | flags, &a, sizeof a);
}

// clone_at is the bind the stage's op makes of dir/path, as a detached mount with set
// added to the top mount's flags (as remount adds them).
static int clone_at(int dir, const char *path, int recursive, uint64_t set) {
	int fd = (int)syscall(SYS_open_tree, dir, path, A_TREE_CLONE | O_CLOEXEC | (recursive ? A_RECURSIVE : 0));
	if (fd >= 0 && setattr(fd, 0, set) < 0)
		close(fd), fd = -1;
	return fd;
}

// attach moves detached mount fd onto dir/path and closes it.
static int attach(int fd, int dir, const char *path) {
	int r = (int)syscall(SYS_move_mount, fd, "", dir, path, A_F_EMPTY);
	close(fd);
	return r;
}

// new_proc is the stage's mount("proc", target, "proc", MS_NOSUID|MS_NODEV|MS_NOEXEC),
// detached.
static int new_proc(void) {
	int fs = (int)syscall(SYS_fsopen, "proc", A_CLOEXEC), m = -1;
	if (fs < 0)
		return -1;
	if (syscall(SYS_fsconfig, fs, A_SET_STRING, "source", "proc", 0) == 0 &&
	    syscall(SYS_fsconfig, fs, A_CMD_CREATE, NULL, NULL, 0) == 0)
		m = (int)syscall(SYS_fsmount, fs, A_CLOEXEC, A_NOSUID | A_NODEV | A_NOEXEC);
	close(fs);
	return m;
}

static int nested(const char *a, const char *b) {
	size_t n = strlen(a), m = strlen(b);
	if (n > m)
		return nested(b, a);
	return strncmp(a, b, n) == 0 && (b[n] == 0 || b[n] == '/');
}

// prepare_proc puts the masks and read-only binds on proc as op_mask and op_bind_ro put
// them on the stage's /proc after the pivot; those left to their ops must not be nested
// with those made here (their order would then matter). 0 on success.
static int prepare_proc(int proc) {
	struct stat st;
	for (int i = 0; i < NMASKS + NRO; i++) {
		int mask = i < NMASKS;
		const char *p = mask ? masks[i] : ro[i - NMASKS];
		left[i] = LEFT_OP;
		if (strncmp(p, "/proc/", 6) != 0)
			continue;
		if (fstatat(proc, p + 6, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT)
				return -1;
			left[i] = LEFT_NONE;
			continue;
		}
		if (S_ISLNK(st.st_mode))
			return -1; // the ops stat through it: not this recipe's
		if (mask && S_ISDIR(st.st_mode))
			continue; // a tmpfs, whose owner waits for the maps
		int fd = mask ? clone_at(AT_FDCWD, "/dev/null", 0, A_NOSUID | A_NOEXEC)
			      : clone_at(proc, p + 6, 1, A_RDONLY | A_NOSUID | A_NODEV);
		if (fd < 0)
			return -1;
		if (mask && !null_flags) {
			struct statvfs sv;
			if (fstatvfs(fd, &sv) < 0) {
				close(fd);
				return -1;
			}
			null_flags = sv.f_flag;
		}
		if (attach(fd, proc, p + 6) < 0)
			return -1;
		left[i] = LEFT_DONE;
	}
	for (int i = 0; i < NMASKS + NRO; i++)
		for (int j = 0; j < NMASKS + NRO; j++)
			if (left[i] == LEFT_OP && left[j] == LEFT_DONE &&
			    nested(i < NMASKS ? masks[i] : ro[i - NMASKS], j < NMASKS ? masks[j] : ro[j - NMASKS]))
				return -1;
	return 0;
}

static int keep(int fd, int slot) {
	if (fd < 0)
		return -1;
	int to = AHEAD_FD + slot;
	int r = dup3(fd, to, O_CLOEXEC);
	close(fd);
	return r < 0 ? -1 : to;
}

static void drop(int slot) {
	if (held[slot] >= 0)
		close(held[slot]);
	held[slot] = -1;
}

// ahead_prepare runs in the spare, in its mount namespace copied ahead, before its
// request: a failure leaves the piece to its ops.
void ahead_prepare(void) {
	made_from = stage_now();
	// The stage's first mount op, ahead: no clone below joins the host's peer groups. The
	// host's later changes do not reach this copy then; the spawner's staleness check
	// refuses the spare for any (spare_stale).
	if (mount("", "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return;
	if (lstat("/dev/null", &null_st) == 0 && S_ISCHR(null_st.st_mode)) {
		int proc = new_proc();
		if (proc >= 0 && prepare_proc(proc) == 0)
			held[0] = keep(proc, 0);
		else if (proc >= 0)
			close(proc);
	}
	for (int i = 0; i < NDEVS; i++)
		if (lstat(devs[i], &dev_st[i]) == 0 && S_ISCHR(dev_st[i].st_mode))
			held[1 + i] = keep(clone_at(AT_FDCWD, devs[i], 1, A_NOSUID | A_NOEXEC), 1 + i);
	made_to = stage_now();
}

int ahead_dev(const char *src, unsigned long flags, struct stat *st) {
	if (flags != (MS_NOSUID | MS_NOEXEC))
		return -1;
	for (int i = 0; i < NDEVS; i++) {
		if (held[1 + i] < 0 || strcmp(src, devs[i]) != 0)
			continue;
		int fd = held[1 + i];
		held[1 + i] = -1;
		if (lstat(src, st) == 0 && same_file(st, &dev_st[i]))
			return fd;
		close(fd); // another file there now: the op binds that one
		return -1;
	}
	return -1;
}

static int under(const char *s, const char *dir) {
	size_t n = strlen(dir);
	return strncmp(s, dir, n) == 0 && (s[n] == 0 || s[n] == '/');
}

// above: s is dir or beneath it, dir's trailing slashes aside ("/" is above every path).
static int above(const char *dir, const char *s) {
	size_t n = strlen(dir);
	while (n > 0 && dir[n - 1] == '/')
		n--;
	return strncmp(s, dir, n) == 0 && (s[n] == 0 || s[n] == '/');
}

// touches: op names target or a path beneath it (an image's checked target as root/rel),
// or mounts over a directory above it (the root bound again): that would hide the piece,
// where the ops mask what the later mount holds.
static int touches(const struct op *op, const char *target) {
	for (unsigned i = 0; i < op->nstr; i++)
		if (under(op->strs[i], target))
			return 1;
	char p[PATH_MAX * 2];
	const char *point = NULL;
	switch (op->code) {
	case OP_MOUNT: case OP_BIND: case OP_ATTACH: point = op->strs[1]; break;
	case OP_UPPER: point = op->strs[2]; break;
	case OP_STAGE_HOSTS: case OP_MOUNT_HOSTS: point = op->strs[0]; break;
	case OP_SAFE_TARGET:
		snprintf(p, sizeof p, "%s/%s", op->strs[0], op->strs[1]);
		if (under(p, target))
			return 1;
		point = p;
		break;
	}
	return point && point[0] && above(point, target);
}

// recipe_follows: from c on, up to the OP_AHEAD of the masks, in the same step, no op
// touches target, and the ops that marker stands for are the recipe's, in its order.
static int recipe_follows(struct cursor *c, const char *target) {
	struct op op;
	int ok = 0, found = 0;
	while (!found && stage_next(c, &op) == 0) {
		found = op.code == OP_AHEAD && op_int(&op, 0) == AHEAD_MASKS;
		ok = found && op_int(&op, 1) == NMASKS + NRO;
		int stop = op.code == OP_STEP || (!found && touches(&op, target));
		stage_op_free(&op);
		if (stop)
			return 0;
	}
	for (int i = 0; ok && i < NMASKS + NRO; i++) {
		if (stage_next(c, &op) < 0)
			return 0;
		ok = op.code == (i < NMASKS ? OP_MASK : OP_BIND_RO) && op.nstr == 1 &&
		     strcmp(op.strs[0], i < NMASKS ? masks[i] : ro[i - NMASKS]) == 0;
		stage_op_free(&op);
	}
	return ok;
}

static int is_proc(const struct op *op) {
	return op->code == OP_MOUNT && op->nstr == 4 && op_int(op, 0) == (MS_NOSUID | MS_NODEV | MS_NOEXEC) &&
	       !strcmp(op->strs[0], "proc") && !strcmp(op->strs[2], "proc") && op->lens[3] == 0;
}

// take_proc stands for the op after it, the proc's mount: the prepared proc, its masks
// and read-only binds on it, attached where that op mounts.
static void take_proc(void) {
	struct cursor c;
	struct op next;
	struct stat st;
	if (held[0] < 0)
		return;
	stage_cursor(&c);
	if (stage_next(&c, &next) < 0)
		return;
	int64_t t = stage_now();
	const char *target = is_proc(&next) ? next.strs[1] : NULL;
	if (!target || !recipe_follows(&c, target) || lstat("/dev/null", &st) < 0 || !same_file(&st, &null_st)) {
		drop(0);
		stage_op_free(&next);
		return;
	}
	// op_mount's target: the descriptor an image's check holds, else the path, made.
	const char *at = op_int(&next, 1) ? stage_at(target, 1, &next) : target;
	int r;
	if (at != target) {
		r = (int)syscall(SYS_move_mount, held[0], "", stage_checked_fd(), "", A_F_EMPTY | A_T_EMPTY);
	} else {
		if (op_int(&next, 1))
			stage_mkdir_all(target, &next);
		r = (int)syscall(SYS_move_mount, held[0], "", AT_FDCWD, target, A_F_EMPTY | A_T_SYMLINKS);
	}
	if (r < 0)
		stage_fail(&next, errno, 0, 0, NULL);
	if (at != target)
		stage_checked_done();
	drop(0);
	proc_taken = 1;
	stage_skip(1, 1);
	stage_span("spare_mounts", made_from, made_to);
	stage_span("proc_ahead", t, stage_now());
	stage_op_free(&next);
}

// take_masks stands for the masks and read-only binds take_proc checked: those made
// ahead are skipped, the others run. Their /dev/null must be the sandbox's, which the
// stage's masks bind: the same file, the same mount flags.
static void take_masks(const struct op *op) {
	if (!proc_taken)
		return;
	proc_taken = 0; // once: only the marker take_proc checked stands for these ops
	struct stat st;
	struct statvfs sv;
	if (lstat("/dev/null", &st) < 0 || !same_file(&st, &null_st) || statvfs("/dev/null", &sv) < 0 ||
	    sv.f_flag != null_flags)
		stage_fail(op, 0, 1, 0, "the masks made ahead are not of the sandbox's /dev/null");
	uint64_t skip = 0;
	for (int i = 0; i < NMASKS + NRO; i++)
		if (left[i] != LEFT_OP)
			skip |= 1ULL << i;
	stage_skip(NMASKS + NRO, skip);
}

void op_ahead(const struct op *op) {
	switch (op_int(op, 0)) {
	case AHEAD_PROC: take_proc(); return;
	case AHEAD_MASKS: take_masks(op); return;
	}
}
