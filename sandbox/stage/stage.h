//go:build cgo && linux

// The C init stage: an interpreter of the program the Go parent renders from the steps
// table (program.go holds the wire format and the op codes, which must match these).
#ifndef CONFINE_STAGE_H
#define CONFINE_STAGE_H

#include <stddef.h>
#include <stdint.h>

enum {
	OP_STEP = 1,     // strs: name. A step of the steps table begins.
	OP_MOUNT,        // ints: flags, mkdir; strs: source, target, fstype, data
	OP_RECV_MOUNTS,  // the parent's detached idmapped mounts, from fd 6
	OP_BIND,         // ints: index, flags, same; strs: source, target (mountOne)
	OP_REQUIRE,      // strs: path. Fails with kind 1 when it does not exist
	OP_SYMLINK,      // strs: old, new
	OP_READONLY,     // the read-only binds OP_BIND made, in reverse
	OP_PIVOT,        // strs: root
	OP_MASK,         // strs: path
	OP_BIND_RO,      // strs: path
	OP_HOSTNAME,     // strs: name
	OP_RLIMIT,       // ints: resource, soft, hard
	OP_PRCTL,        // ints: option, arg2
	OP_WRITE,        // strs: path, content
	OP_LOOPBACK,     // lo up
	OP_CAPS,         // ints: bounding, eff, perm, inh, amb, uid, gid, setgroups, last_cap, groups...
	OP_LANDLOCK,     // ints: fs, net, scoped, file_rights, npaths, nbind, nconnect, access..., ports...; strs: paths
	OP_WAIT_GO,      // one byte from fd 5, with the v1 cgroups' tasks descriptors (SCM_RIGHTS)
	OP_CLOSE_FDS,    // every descriptor but stdio and the error pipe, which becomes close-on-exec
	OP_CHDIR,        // strs: dir
	OP_SECCOMP,      // strs: the BPF program
	OP_EXEC,         // ints: argc; strs: argv..., env...
	OP_STAGE_HOSTS,  // strs: root, hosts, resolv ("": none)
	OP_MOUNT_HOSTS,  // ints: which (0 hosts, 1 resolv), in_rootfs; strs: target
	OP_CGROUP_SELF,  // "0" to each v1 tasks descriptor OP_WAIT_GO received; aux of a failure: its index
	OP_GROUPS,       // ints: range; strs: run.groups' names (stage_user.c)
	OP_USER,         // ints: uid, gid, range; strs: user, group ("": a number), paths to lchown...
	OP_SAFE_TARGET,  // ints: mkdir; strs: root, rel, source (stage_image.c)
	OP_UPPER,        // ints: uid, gid; strs: root, rel, target
	OP_ATTACH,       // OP_BIND's fields; the parent's detached mount, which it requires
	OP_AHEAD,        // ints: piece, count; the ops after it that a spare's prepared piece stands for (stage_ahead.c)
	OP_MAX,
};

// OP_AHEAD's pieces (program.go's AheadProc, AheadMasks).
enum { AHEAD_PROC = 1, AHEAD_MASKS = 2 };

struct op {
	unsigned code, step, nint, nstr;
	const unsigned char *ints; // nint little-endian u64s, unaligned
	const char **strs;
	const uint32_t *lens;
	unsigned index; // the op's position in the program, which the parent's errors name
};

uint64_t op_int(const struct op *op, unsigned i);

// stage_main runs the program on fd 3 and execs the component; it never returns.
void stage_main(void) __attribute__((noreturn));
// spawner_main serves the supervisor's spawn requests on fd 3 (stage_spawn.c) until EOF.
void spawner_main(void) __attribute__((noreturn));
// slim_front hands every command but a plain run from the slim binary (bin/confine) to
// bin/confine-full beside it (stage_slim.c); full_named names the full binary's process
// confine; stage_paired_full checks that the binary on fd is this slim binary's full one.
// stage_slim_binary is 1 in the slim binary (role_slim.c), 0 in the full one (role_full.c).
void slim_front(char **argv);
void full_named(void);
int stage_paired_full(int fd);
extern const int stage_slim_binary;
// early_spawner forks the lone run's spawner (stage_early.c); the run reads its socket
// and pid from confine_early_sock and confine_early_pid (-1 and 0: none).
void early_spawner(void);
extern int confine_early_sock, confine_early_pid;

// stage_fail reports the failed op to the parent on fd 4 and exits 1. kind and aux say
// which part of the op failed; detail is the path or call it failed on.
void stage_fail(const struct op *op, int err, unsigned kind, uint64_t aux, const char *detail)
	__attribute__((noreturn));

// Op implementations: 0 on success; otherwise they call stage_fail.
void op_mount(const struct op *op);
void op_recv_mounts(const struct op *op);
void op_bind(const struct op *op);
void op_require(const struct op *op);
void op_symlink(const struct op *op);
void op_readonly(const struct op *op);
void op_pivot(const struct op *op);
void op_mask(const struct op *op);
void op_bind_ro(const struct op *op);
void op_stage_hosts(const struct op *op);
void op_mount_hosts(const struct op *op);
void op_caps(const struct op *op);
void op_landlock(const struct op *op);
void op_groups(const struct op *op);
void op_user(const struct op *op);
void op_exec(const struct op *op) __attribute__((noreturn));
void op_safe_target(const struct op *op);
void op_upper(const struct op *op);
void op_attach(const struct op *op);
void op_ahead(const struct op *op);
// For stage_ahead.c: the ops after the running one, parsed without running them (free
// each with stage_op_free); stage_skip makes the loop skip those of the next n ops whose
// bit is set in mask (bit 0: the next op). stage_span prints a trace line.
struct cursor { size_t pos; unsigned index; };
void stage_cursor(struct cursor *c);
int stage_next(struct cursor *c, struct op *op);
void stage_op_free(struct op *op);
void stage_skip(unsigned n, uint64_t mask);
int64_t stage_now(void);
void stage_span(const char *name, int64_t start, int64_t end);
// For op_bind (stage_mounts.c): the spare's clone of device src when it is the bind the op
// makes (flags), its lstat in st; else -1. And the mkdir op_mount makes, for op_ahead.
struct stat;
int ahead_dev(const char *src, unsigned long flags, struct stat *st);
void stage_mkdir_all(const char *path, const struct op *op);
// For stage_image.c: whether the parent sent mount idx; stage_mounts.c's remount.
int stage_detached(unsigned idx);
void stage_remount(const char *target, unsigned long flags, const struct op *op);
// For stage_mounts.c (stage_image.c): the path to mount on for a target OP_SAFE_TARGET
// checked (its held descriptor's), made when missing; after the mount, a descriptor of
// the mount made there (-1: not checked); forgetting the checked target.
const char *stage_at(const char *target, int dir, const struct op *op);
struct stat;
int stage_top(const char *target, const struct op *op, const struct stat *want);
void stage_checked_done(void);
int stage_checked_fd(void);
int stage_checked_dir(const char **name, const char *target);
// For stage_user.c: the image write path of OP_USER's index i op_upper made, held
// (a descriptor), or -1.
enum { MAX_UPPERS = 4096 }; // stage.MaxMounts
int stage_upper_made(unsigned i);

#endif
