//go:build cgo && linux

// run.user's and run.groups' names in the C stage (stage_user.c), from the sandbox's own
// /etc/passwd and /etc/group (stage_idfile.c), as sandbox/user_linux.go and
// groups_linux.go resolve them in the Go init.
#ifndef CONFINE_STAGE_USER_H
#define CONFINE_STAGE_USER_H

#include <stddef.h>
#include <stdint.h>

// scanIDFile's bounds: maxGroupFile, and bufio.MaxScanTokenSize.
enum { ID_FILE_MAX = 1 << 20, ID_LINE_MAX = 64 * 1024, ID_MAX_FIELDS = 4 };

// How a file failed to read, which is also OP_USER's and OP_GROUPS' failure kind; the
// parent words each as the Go init's error (sandbox/render_user_linux.go).
enum { ID_OK = 0, ID_OPEN, ID_NOT_REGULAR, ID_READ, ID_TOO_LONG };
// The ops' other failures: no line for the name, an id outside the range, an lchown, the
// write of the resolved ids to fd 7.
enum { ID_NO_NAME = 5, ID_RANGE, ID_CHOWN, ID_WRITE };

// id_query is one name to look up: in, the name and its length; out, found and its ids
// (passwd: uid, gid; group: gid).
struct id_query {
	const char *name;
	size_t len;
	int found;
	uint32_t id[ID_MAX_FIELDS - 2];
};

// id_file_scan reads path (passwd(5) with nfields 4, group(5) with 3) and sets each
// query's ids from the first valid line for its name. It returns ID_OK, or the reason the
// file could not be read, with the errno in *err for ID_OPEN and ID_READ.
int id_file_scan(const char *path, unsigned nfields, struct id_query *q, unsigned nq, int *err);

// What OP_USER and OP_GROUPS resolved, for OP_CAPS: the ids when user_resolved is set,
// and the supplementary groups named in run.groups, after the Plan's numbers.
extern int user_resolved;
extern uint32_t resolved_uid, resolved_gid;
extern uint32_t *resolved_groups;
extern unsigned nresolved_groups;

#endif
