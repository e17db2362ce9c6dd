//go:build cgo && linux

// The ops only images and volumes have: the same calls, in the same order, as
// sandbox/overlay_linux.go (safeTarget, mountUpper, attachBind through mountImageOne).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "stage.h"

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

static char where[PATH_MAX + 2];

// The target the last OP_SAFE_TARGET checked: its parent and, when it exists, itself,
// held open. The mount op that follows mounts on these descriptors, not on the path: a
// volume is shared with components running at the same time, and one of them can put a
// link where the check saw a directory before mount(2) walks the path again.
static int chk_dir = -1, chk_fd = -1;
static char chk_path[PATH_MAX * 2], chk_name[PATH_MAX], chk_at[32];

static void checked_reset(void) {
	if (chk_fd >= 0)
		close(chk_fd);
	if (chk_dir >= 0)
		close(chk_dir);
	chk_fd = chk_dir = -1;
	chk_path[0] = 0;
}

static int open_beneath(int dir, const char *name) {
	struct open_how how = {.flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH};
	return (int)syscall(SYS_openat2, dir, name, &how, sizeof how);
}

// safe_target is safeTarget: each component of rel (clean, relative), under root, is
// opened with openat2(RESOLVE_NO_SYMLINKS|RESOLVE_BENEATH), so no link of the image can
// steer a mount onto the host. Missing parents are made, the last component too when
// mkdir is set. Kinds: 1 a link (ELOOP), 2 not a directory, 0 another failure, each
// with "/the/component" as detail. It returns whether it made the last component.
static int safe_target(const struct op *op, const char *root, const char *rel, int mkdir) {
	checked_reset();
	if (!*rel)
		return 0;
	if (strlen(rel) >= PATH_MAX)
		stage_fail(op, ENAMETOOLONG, 0, 0, NULL);
	int dir = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		stage_fail(op, errno, 0, 0, NULL);
	char part[PATH_MAX];
	const char *p = rel;
	int made = 0;
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		int last = !slash;
		memcpy(part, p, n);
		part[n] = 0;
		snprintf(where, sizeof where, "/%.*s", (int)(p - rel + n), rel);
		int fd = open_beneath(dir, part), err = fd < 0 ? errno : 0;
		if (err == ENOENT && (!last || mkdir)) {
			if (mkdirat(dir, part, 0755) == 0 || errno == EEXIST) {
				made = last;
				fd = open_beneath(dir, part), err = fd < 0 ? errno : 0;
			} else {
				err = errno;
			}
		} else if (err == ENOENT) {
			// A file target: the mount op makes it, beneath the directory held here.
			chk_dir = dir;
			snprintf(chk_name, sizeof chk_name, "%s", part);
			snprintf(chk_path, sizeof chk_path, "%s/%s", root, rel);
			return 0;
		}
		if (last && !err) {
			chk_dir = dir;
			snprintf(chk_name, sizeof chk_name, "%s", part);
		} else {
			close(dir);
		}
		if (err == ELOOP)
			stage_fail(op, 0, 1, 0, where);
		if (err)
			stage_fail(op, err, 0, 0, where);
		struct stat st;
		if (fstat(fd, &st) < 0 || (!last && !S_ISDIR(st.st_mode)))
			stage_fail(op, 0, 2, 0, where);
		if (last) {
			chk_fd = fd;
			snprintf(chk_path, sizeof chk_path, "%s/%s", root, rel);
			return made;
		}
		dir = fd;
		p = slash + 1;
	}
}

static int checked(const char *target) { return chk_dir >= 0 && !strcmp(target, chk_path); }

// stage_at is the path a mount op mounts on: for the target OP_SAFE_TARGET checked, its
// held descriptor's /proc/self/fd path, the mount point made beneath the held parent
// first when missing (a directory when dir is set, as makeMountPoint); else target.
const char *stage_at(const char *target, int dir, const struct op *op) {
	if (!checked(target))
		return target;
	if (chk_fd < 0) {
		int f = dir ? mkdirat(chk_dir, chk_name, 0755)
			    : openat(chk_dir, chk_name, O_CREAT | O_EXCL | O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (f < 0 && errno != EEXIST) {
			snprintf(where, sizeof where, "%s %s", dir ? "mkdir" : "open", target);
			stage_fail(op, errno, 0, 0, where);
		}
		if (!dir && f >= 0)
			close(f);
		if ((chk_fd = open_beneath(chk_dir, chk_name)) < 0) {
			snprintf(where, sizeof where, "open %s", target);
			stage_fail(op, errno, 0, 0, where);
		}
	}
	struct stat st;
	if (fstat(chk_fd, &st) < 0)
		stage_fail(op, errno, 0, 0, NULL);
	if (dir && !S_ISDIR(st.st_mode)) {
		snprintf(where, sizeof where, "mkdir %s", target);
		stage_fail(op, ENOTDIR, 0, 0, where);
	}
	snprintf(chk_at, sizeof chk_at, "/proc/self/fd/%d", chk_fd);
	return chk_at;
}

static int mnt_id(int fd, uint64_t *id) {
	struct statx stx;
	if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &stx) < 0 || !(stx.stx_mask & STATX_MNT_ID))
		return -1;
	*id = stx.stx_mnt_id;
	return 0;
}

// stage_top is, after the mount on a checked target, a descriptor of the mount made
// there (opened beneath the held parent, no link followed), for its remounts by
// /proc/self/fd path; -1 for a target not checked. A name beneath the parent that is
// not the new mount fails rather than take the mount's flags elsewhere: one on the
// mount underneath, or whose root is not want (what was mounted; NULL: not known). A
// volume's co-tenant can rename the mount made away and another of this run's mount
// points in the volume to the name: a mount id not the one underneath is not enough.
int stage_top(const char *target, const struct op *op, const struct stat *want) {
	if (!checked(target))
		return -1;
	int fd = open_beneath(chk_dir, chk_name);
	uint64_t under, top;
	if (fd < 0) {
		snprintf(where, sizeof where, "open %s", target);
		stage_fail(op, errno, 0, 0, where);
	}
	struct stat st;
	if ((mnt_id(fd, &top) == 0 && mnt_id(chk_fd, &under) == 0 && top == under) ||
	    (want && (fstat(fd, &st) < 0 || st.st_dev != want->st_dev || st.st_ino != want->st_ino))) {
		snprintf(where, sizeof where, "%s: not the mount just made", target);
		stage_fail(op, EBUSY, 0, 0, where);
	}
	checked_reset();
	return fd;
}

int stage_checked_fd(void) { return chk_fd; }
int stage_checked_dir(const char **name, const char *target) {
	*name = chk_name;
	return checked(target) ? chk_dir : -1;
}

// stage_checked_done forgets the checked target once a mount op needs it no more.
void stage_checked_done(void) { checked_reset(); }

// op_safe_target: ints: mkdir (0 no, 1 yes, 2 when source is a directory, as isDir);
// strs: root, rel, source.
void op_safe_target(const struct op *op) {
	int mkdir = (int)op_int(op, 0);
	if (mkdir == 2) {
		struct stat st;
		mkdir = stat(op->strs[2], &st) == 0 && S_ISDIR(st.st_mode);
	}
	safe_target(op, op->strs[0], op->strs[1], mkdir);
}

// upper_made marks the uppers op_upper made for a named run.user, by their index in
// OP_USER's paths (the Go init's chownLater holds only those): OP_USER gives them to
// the ids once the names resolve.
// Each is held (descriptor + 1): OP_USER gives the directory made, not what its path
// names after the other mounts (a volume's other writers may rename it away).
static int upper_made[MAX_UPPERS];

int stage_upper_made(unsigned i) { return i < MAX_UPPERS ? upper_made[i] - 1 : -1; }

// op_upper is mountUpper: the image's own directory, made (and owned by the component's
// user) where the image lacks it, bound onto itself so that it stays writable once the
// root is read-only. ints: uid, gid, named, index; strs: root, rel, target. named: the
// ids are not known yet, and a made target, held, waits for OP_USER's chown (path index).
void op_upper(const struct op *op) {
	const char *target = op->strs[2];
	int named = op->nint > 3 && op_int(op, 2);
	uint64_t idx = named ? op_int(op, 3) : 0;
	if (named && idx >= MAX_UPPERS)
		stage_fail(op, E2BIG, 0, 0, "too many write paths");
	int made = safe_target(op, op->strs[0], op->strs[1], 1);
	const char *at = stage_at(target, 1, op);
	if (made && !named && fchownat(chk_fd, "", (uid_t)op_int(op, 0), (gid_t)op_int(op, 1),
				    AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
		snprintf(where, sizeof where, "lchown %s", target);
		stage_fail(op, errno, 0, 0, where);
	}
	if (mount(at, at, "", MS_BIND, "") < 0) // at: the checked directory's descriptor
		stage_fail(op, errno, 0, 0, NULL);
	struct stat want;
	if (at != target && fstat(chk_fd, &want) < 0)
		stage_fail(op, errno, 0, 0, NULL);
	int top = stage_top(target, op, &want); // the directory bound onto itself
	if (top < 0) {
		stage_remount(target, MS_NOSUID | MS_NODEV, op);
		return;
	}
	snprintf(chk_at, sizeof chk_at, "/proc/self/fd/%d", top);
	stage_remount(chk_at, MS_NOSUID | MS_NODEV, op);
	if (made && named)
		upper_made[idx] = top + 1; // the writable bind's root: the overlay's is read-only by then
	else
		close(top);
}

// op_attach is attachBind for an overlay or a volume, whose mount only the parent makes:
// without one it fails (kind 3), rather than bind anything else there. Its fields are
// OP_BIND's.
void op_attach(const struct op *op) {
	if (!stage_detached((unsigned)op_int(op, 0)))
		stage_fail(op, 0, 3, 0, NULL);
	op_bind(op);
}
