//go:build cgo && linux

// What the spawner (stage_spawn.c) and its spare (stage_spare.c) share.
#ifndef CONFINE_STAGE_SPAWN_H
#define CONFINE_STAGE_SPAWN_H

#include <sched.h>
#include <stdint.h>

#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#define SPAWN_CLONE_INTO_CGROUP 0x200000000ULL
// The only flags a request may ask for: the init stage's namespaces.
#define SPAWN_NS_FLAGS (CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | \
			CLONE_NEWUTS | CLONE_NEWNET | CLONE_NEWCGROUP)

enum { FD_SPAWNER = 3, MAX_FILES = 16, MAX_RIGHTS = MAX_FILES + 1, HEADER_LEN = 36, MAX_MAP = 1024 };

// A request's options: a new session, no spare after it (the lone run's only one), and
// a fresh clone, never the spare (whose namespace holds a firewall loaded for another).
enum { SPAWN_SETSID = 1, SPAWN_LAST = 2, SPAWN_FRESH = 4 };

// The spawner's messages to the supervisor: the answer to a request, the pid of each
// spare it cloned (its parent is the supervisor, which must reap it), and of a spare
// found gone (killed) at a request, which the supervisor reaps then.
enum { MSG_REPLY = 1, MSG_SPARE = 2, MSG_SPARE_GONE = 3 };

// The request, after "CSP1": the clone flags, the options, how many descriptors the
// child gets (0, 1, 2, ...), whether a cgroup directory follows them, and the lengths
// of the uid and gid maps' text, which follow the header, and the pid of the spare it
// must take (0: any, or a fresh clone): the supervisor loaded that spare's firewall
// ahead. Its descriptors (SCM_RIGHTS): the child's, then the cgroup's.
struct request {
	uint64_t flags;
	uint32_t opts, nfiles, cgroup, uidlen, gidlen, spare;
	char maps[2 * MAX_MAP];
};

// clone3's arguments (linux/sched.h, which older build hosts lack).
struct spawn_clone_args {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls,
		set_tid, set_tid_size, cgroup;
};

// spawn_child is the init stage's start in a clone: the request's descriptors in place,
// every other one closed, the go byte from sync, ns-root, then stage_main. session: the
// child leads a new session already (the spare's, made ahead), so SPAWN_SETSID is done.
void spawn_child(const struct request *rq, int sync, const int *files, int session) __attribute__((noreturn));
void close_above(int lo, int keep);
// tell sends the supervisor one message; it exits when the supervisor is gone.
void tell(int32_t kind, int32_t pid, int32_t err);
int write_map(long pid, const char *file, const char *text, uint32_t len);

// The spare: spare_make clones one when there is none; spare_fits says whether rq can
// take it; spare_take hands it rq and writes its maps, as clone_one does for a fresh one.
void spare_make(void);
// The lone run's spare prepares mounts ahead (stage_ahead.c) and holds them from AHEAD_FD
// up to ahead_fd_end() (0: none), which spawn_child keeps open for the stage;
// ahead_forget leaves them to be closed.
enum { AHEAD_FD = 128 };
void ahead_prepare(void);
int ahead_fd_end(void);
void ahead_forget(void);
extern int spare_mounts_ahead;
int spare_fits(const struct request *rq);
int spare_is(int32_t pid);
int spare_take(const struct request *rq, const int *fds, int32_t reply[2]);

#endif
