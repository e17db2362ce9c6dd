//go:build cgo && linux

// OP_GROUPS and OP_USER: sandbox/groups_linux.go's resolveGroups and user_linux.go's
// resolveUser, check for check, after pivot_root and before the identity changes (the
// steps table's "groups" and "user"). OP_CAPS then takes what they resolved.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "stage.h"
#include "stage_user.h"

enum { FD_IDS = 7 }; // sandbox/user_linux.go's fdIDs: the parent reads it after exec

int user_resolved;
uint32_t resolved_uid, resolved_gid;
uint32_t *resolved_groups;
unsigned nresolved_groups;

// op_groups: ints: range; strs: the names of run.groups (its numbers are OP_CAPS's own).
// The names resolve in one read of /etc/group, the first failure in run.groups' order;
// aux of a failure: the name's index, and for ID_RANGE the gid in the high 32 bits.
void op_groups(const struct op *op) {
	uint64_t range = op_int(op, 0);
	unsigned n = op->nstr;
	struct id_query *q = calloc(n + 1, sizeof *q);
	resolved_groups = calloc(n + 1, sizeof(uint32_t));
	if (!q || !resolved_groups)
		stage_fail(op, ENOMEM, ID_READ, 0, NULL);
	for (unsigned i = 0; i < n; i++)
		q[i].name = op->strs[i], q[i].len = op->lens[i];
	int err, r = n ? id_file_scan("/etc/group", 3, q, n, &err) : ID_OK;
	if (r != ID_OK)
		stage_fail(op, err, (unsigned)r, 0, NULL);
	for (unsigned i = 0; i < n; i++)
		if (!q[i].found)
			stage_fail(op, 0, ID_NO_NAME, i, NULL);
	for (unsigned i = 0; i < n; i++)
		if (q[i].id[0] >= range)
			stage_fail(op, 0, ID_RANGE, (uint64_t)q[i].id[0] << 32 | i, NULL);
	for (unsigned i = 0; i < n; i++)
		resolved_groups[i] = q[i].id[0];
	nresolved_groups = n;
	free(q);
}

// lookup resolves one name in path, or fails the op: aux 0 is run.user's user, 1 its group.
static void lookup(const struct op *op, unsigned which, const char *path, unsigned nfields, uint32_t id[2]) {
	struct id_query q = {.name = op->strs[which], .len = op->lens[which]};
	int err, r = id_file_scan(path, nfields, &q, 1, &err);
	if (r != ID_OK)
		stage_fail(op, err, (unsigned)r, which, NULL);
	if (!q.found)
		stage_fail(op, 0, ID_NO_NAME, which, NULL);
	id[0] = q.id[0], id[1] = q.id[1];
}

// op_user: ints: the Plan's uid and gid, range; strs: run.user's user name and group name
// ("" where it gave a number), then the image's write paths that, when op_upper made
// them, it gives to the ids (the Go init's chownLater). The ids go to OP_CAPS and, as resolvedIDs' JSON, to the parent on fd 7.
// aux of ID_RANGE: uid << 32 | gid; of ID_CHOWN: the path's index.
void op_user(const struct op *op) {
	uint32_t uid = (uint32_t)op_int(op, 0), gid = (uint32_t)op_int(op, 1), id[2];
	uint64_t range = op_int(op, 2);
	if (op->lens[0]) {
		lookup(op, 0, "/etc/passwd", 4, id);
		uid = id[0];
		if (!op->lens[1])
			gid = id[1]; // a named user without a group takes its primary group
	}
	if (op->lens[1]) {
		lookup(op, 1, "/etc/group", 3, id);
		gid = id[0];
	}
	if (uid >= range || gid >= range)
		stage_fail(op, 0, ID_RANGE, (uint64_t)uid << 32 | gid, NULL);
	for (unsigned i = 2; i < op->nstr; i++)
		// The directory op_upper made and held: not what its path names by now (a
		// volume's other writers may have put a link or another directory there).
		if (stage_upper_made(i - 2) >= 0 &&
		    fchownat(stage_upper_made(i - 2), "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
			stage_fail(op, errno, ID_CHOWN, i - 2, NULL);
	char ids[64];
	int len = snprintf(ids, sizeof ids, "{\"uid\":%u,\"gid\":%u}", uid, gid);
	if (write(FD_IDS, ids, (size_t)len) < 0)
		stage_fail(op, errno, ID_WRITE, 0, NULL);
	user_resolved = 1, resolved_uid = uid, resolved_gid = gid;
}
