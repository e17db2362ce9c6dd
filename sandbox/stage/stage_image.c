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
			close(dir);
			return 0; // a file target: the mount op makes it
		}
		close(dir);
		if (err == ELOOP)
			stage_fail(op, 0, 1, 0, where);
		if (err)
			stage_fail(op, err, 0, 0, where);
		struct stat st;
		if (fstat(fd, &st) < 0 || (!last && !S_ISDIR(st.st_mode)))
			stage_fail(op, 0, 2, 0, where);
		if (last) {
			close(fd);
			return made;
		}
		dir = fd;
		p = slash + 1;
	}
}

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
static unsigned char upper_made[MAX_UPPERS];

int stage_upper_made(unsigned i) { return i < MAX_UPPERS && upper_made[i]; }

// op_upper is mountUpper: the image's own directory, made (and owned by the component's
// user) where the image lacks it, bound onto itself so that it stays writable once the
// root is read-only. ints: uid, gid, named, index; strs: root, rel, target. named: the
// ids are not known yet, and a made target waits for OP_USER's lchown (path index).
void op_upper(const struct op *op) {
	const char *target = op->strs[2];
	int named = op->nint > 3 && op_int(op, 2);
	uint64_t idx = named ? op_int(op, 3) : 0;
	if (named && idx >= MAX_UPPERS)
		stage_fail(op, E2BIG, 0, 0, "too many write paths");
	if (safe_target(op, op->strs[0], op->strs[1], 1)) {
		if (named)
			upper_made[idx] = 1;
		else if (lchown(target, (uid_t)op_int(op, 0), (gid_t)op_int(op, 1)) < 0) {
			snprintf(where, sizeof where, "lchown %s", target);
			stage_fail(op, errno, 0, 0, where);
		}
	}
	if (mount(target, target, "", MS_BIND, "") < 0)
		stage_fail(op, errno, 0, 0, NULL);
	stage_remount(target, MS_NOSUID | MS_NODEV, op);
}

// op_attach is attachBind for an overlay or a volume, whose mount only the parent makes:
// without one it fails (kind 3), rather than bind anything else there. Its fields are
// OP_BIND's.
void op_attach(const struct op *op) {
	if (!stage_detached((unsigned)op_int(op, 0)))
		stage_fail(op, 0, 3, 0, NULL);
	op_bind(op);
}
