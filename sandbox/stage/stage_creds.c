//go:build cgo && linux

// The identity, capability and Landlock ops, and exec: sandbox/caps_linux.go,
// landlock_linux.go and execerr_linux.go, in the same order, with raw syscalls.
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "stage.h"
#include "stage_user.h"

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_IS_SET 1
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

// Landlock's ABI, defined here: the build host's headers may predate net rules and scopes.
struct ll_ruleset_attr { uint64_t fs, net, scoped; };
struct ll_path_beneath { uint64_t allowed; int32_t parent_fd; } __attribute__((packed));
struct ll_net_port { uint64_t allowed, port; };
enum { LL_RULE_PATH = 1, LL_RULE_NET = 2, LL_CREATE_VERSION = 1, LL_LOG_NEW_EXEC_ON = 2 };
enum { LL_BIND_TCP = 1, LL_CONNECT_TCP = 2 };
#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#define SYS_landlock_add_rule 445
#define SYS_landlock_restrict_self 446
#endif

// Which part of OP_CAPS failed (the parent words each as caps_linux.go does).
enum { CAPS_BOUNDING = 1, CAPS_KEEPCAPS, CAPS_SETGROUPS, CAPS_SETRESGID, CAPS_SETRESUID,
       CAPS_PDEATHSIG, CAPS_SETS, CAPS_AMBIENT };

static int capget_sets(struct __user_cap_data_struct d[2]) {
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	return (int)syscall(SYS_capget, &h, d);
}

void op_caps(const struct op *op) {
	uint64_t bounding = op_int(op, 0), eff = op_int(op, 1), perm = op_int(op, 2);
	uint64_t inh = op_int(op, 3), amb = op_int(op, 4);
	unsigned uid = (unsigned)op_int(op, 5), gid = (unsigned)op_int(op, 6);
	unsigned last = (unsigned)op_int(op, 8);
	if (user_resolved) // run.user's names, as OP_USER found them
		uid = resolved_uid, gid = resolved_gid;
	struct __user_cap_data_struct d[2];
	if (capget_sets(d) < 0)
		stage_fail(op, errno, CAPS_BOUNDING, 0, NULL);
	// Dropping from the bounding set needs CAP_SETPCAP, which setuid would take away.
	if (d[0].effective & (1u << CAP_SETPCAP))
		for (unsigned c = 0; c <= last && c < 64; c++)
			if (!(bounding >> c & 1) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
				stage_fail(op, errno, CAPS_BOUNDING, c, NULL);
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		stage_fail(op, errno, CAPS_KEEPCAPS, 0, NULL);
	if (op_int(op, 7)) {
		unsigned n = op->nint - 9;
		gid_t *groups = calloc(n + nresolved_groups + 1, sizeof(gid_t));
		if (!groups)
			stage_fail(op, ENOMEM, CAPS_SETGROUPS, 0, NULL);
		for (unsigned i = 0; i < n; i++)
			groups[i] = (gid_t)op_int(op, 9 + i);
		for (unsigned i = 0; i < nresolved_groups; i++) // run.groups' names (OP_GROUPS)
			groups[n + i] = (gid_t)resolved_groups[i];
		if (syscall(SYS_setgroups, n + nresolved_groups, groups) < 0)
			stage_fail(op, errno, CAPS_SETGROUPS, 0, NULL);
		free(groups);
	}
	// Raw syscalls: this process has one thread, and libc's wrappers would signal others.
	if (syscall(SYS_setresgid, gid, gid, gid) < 0)
		stage_fail(op, errno, CAPS_SETRESGID, gid, NULL);
	if (syscall(SYS_setresuid, uid, uid, uid) < 0)
		stage_fail(op, errno, CAPS_SETRESUID, uid, NULL);
	// A credential change clears the parent-death signal: set it again.
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		stage_fail(op, errno, CAPS_PDEATHSIG, 0, NULL);
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	d[0].effective = (uint32_t)eff, d[1].effective = (uint32_t)(eff >> 32);
	d[0].permitted = (uint32_t)perm, d[1].permitted = (uint32_t)(perm >> 32);
	d[0].inheritable = (uint32_t)inh, d[1].inheritable = (uint32_t)(inh >> 32);
	if (syscall(SYS_capset, &h, d) < 0)
		stage_fail(op, errno, CAPS_SETS, 0, NULL);
	// The ambient set starts empty (CVE-2022-29162): only the Plan's are raised.
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
		stage_fail(op, errno, CAPS_SETS, 0, NULL);
	for (unsigned c = 0; c < 64; c++)
		if (amb >> c & 1) {
			int r = prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0);
			if (r < 0 || prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, c, 0, 0) != 1)
				stage_fail(op, r < 0 ? errno : 0, CAPS_AMBIENT, c, NULL);
		}
}

// Which part of OP_LANDLOCK failed; aux is the rule's index.
enum { LL_CREATE = 1, LL_OPEN, LL_ADD_PATH, LL_ADD_PORT, LL_RESTRICT };

void op_landlock(const struct op *op) {
	uint64_t fs = op_int(op, 0), net = op_int(op, 1), scoped = op_int(op, 2);
	uint64_t file_rights = op_int(op, 3);
	unsigned npaths = (unsigned)op_int(op, 4), nbind = (unsigned)op_int(op, 5);
	unsigned nconn = (unsigned)op_int(op, 6);
	if (op->nint < 7 + npaths + nbind + nconn || op->nstr < npaths)
		stage_fail(op, EINVAL, LL_CREATE, 0, "malformed op");
	if (!fs && !net && !scoped)
		return;
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LL_CREATE_VERSION);
	struct ll_ruleset_attr attr = {fs, net, scoped};
	int rs = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0);
	if (rs < 0)
		stage_fail(op, errno, LL_CREATE, 0, NULL);
	for (unsigned i = 0; i < npaths; i++) {
		struct ll_path_beneath pb = {op_int(op, 7 + i), -1};
		pb.parent_fd = open(op->strs[i], O_PATH | O_CLOEXEC);
		if (pb.parent_fd < 0)
			stage_fail(op, errno, LL_OPEN, i, NULL);
		// The kernel refuses directory rights on a file (a declared /etc/ld.so.cache).
		struct stat st;
		if (fstat(pb.parent_fd, &st) == 0 && !S_ISDIR(st.st_mode))
			pb.allowed &= file_rights;
		if (syscall(SYS_landlock_add_rule, rs, LL_RULE_PATH, &pb, 0) < 0)
			stage_fail(op, errno, LL_ADD_PATH, i, NULL);
		close(pb.parent_fd);
	}
	for (unsigned i = 0; i < nbind + nconn; i++) {
		struct ll_net_port np = {i < nbind ? LL_BIND_TCP : LL_CONNECT_TCP, op_int(op, 7 + npaths + i)};
		if (syscall(SYS_landlock_add_rule, rs, LL_RULE_NET, &np, 0) < 0)
			stage_fail(op, errno, LL_ADD_PORT, i, NULL);
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		stage_fail(op, errno, LL_RESTRICT, 0, NULL);
	// Landlock logs a domain's denials after exec only when asked to (ABI 7).
	unsigned flags = abi >= 7 ? LL_LOG_NEW_EXEC_ON : 0;
	if (syscall(SYS_landlock_restrict_self, rs, flags, 0) < 0)
		stage_fail(op, errno, LL_RESTRICT, 0, NULL);
	close(rs);
}

static int missing(const char *p) {
	struct stat st;
	return stat(p, &st) != 0;
}

// interpreter_of is execerr_linux.go's interpreterOf: the PT_INTERP of a 64-bit ELF file or
// the program of a #! line ("" when none), into out.
static void interpreter_of(const char *prog, char *out, size_t size, int depth) {
	unsigned char head[256];
	out[0] = 0;
	int fd = open(prog, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = pread(fd, head, sizeof head, 0);
	if (n >= 2 && head[0] == '#' && head[1] == '!') {
		size_t i = 2, j = 0;
		while (i < (size_t)n && (head[i] == ' ' || head[i] == '\t'))
			i++;
		while (i < (size_t)n && head[i] != ' ' && head[i] != '\t' && head[i] != '\n' && head[i] != '\r' && j + 1 < size)
			out[j++] = (char)head[i++];
		out[j] = 0;
		close(fd);
		char inside[512];
		if (j && depth < 4) {
			interpreter_of(out, inside, sizeof inside, depth + 1);
			if (inside[0] && missing(inside))
				snprintf(out, size, "%s", inside);
		}
		return;
	}
	Elf64_Ehdr eh;
	if (n < (ssize_t)sizeof eh || memcmp(head, ELFMAG, SELFMAG) != 0 || head[EI_CLASS] != ELFCLASS64) {
		close(fd);
		return;
	}
	memcpy(&eh, head, sizeof eh);
	for (unsigned i = 0; i < eh.e_phnum && i < 256; i++) {
		Elf64_Phdr ph;
		if (pread(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + (uint64_t)i * eh.e_phentsize)) != sizeof ph)
			break;
		if (ph.p_type == PT_INTERP && ph.p_filesz < size) {
			ssize_t r = pread(fd, out, ph.p_filesz, (off_t)ph.p_offset);
			out[r > 0 ? r : 0] = 0;
			break;
		}
	}
	close(fd);
}

// Why exec failed, for the parent's words (execerr_linux.go's explainExec).
enum { EXEC_PLAIN = 0, EXEC_NO_PROGRAM, EXEC_INTERP_PRESENT, EXEC_NO_INTERP };

void op_exec(const struct op *op) {
	unsigned argc = (unsigned)op_int(op, 0);
	if (argc == 0 || argc > op->nstr)
		stage_fail(op, EINVAL, EXEC_PLAIN, 0, NULL);
	char **argv = calloc(argc + 1, sizeof(char *));
	char **envp = calloc(op->nstr - argc + 1, sizeof(char *));
	for (unsigned i = 0; i < op->nstr; i++) {
		if (i < argc)
			argv[i] = (char *)op->strs[i];
		else
			envp[i - argc] = (char *)op->strs[i];
	}
	execve(argv[0], argv, envp);
	int err = errno;
	if (err != ENOENT)
		stage_fail(op, err, EXEC_PLAIN, 0, NULL);
	if (missing(argv[0]))
		stage_fail(op, err, EXEC_NO_PROGRAM, 0, NULL);
	char interp[512];
	interpreter_of(argv[0], interp, sizeof interp, 0);
	if (!interp[0])
		stage_fail(op, err, EXEC_PLAIN, 0, NULL);
	stage_fail(op, err, missing(interp) ? EXEC_NO_INTERP : EXEC_INTERP_PRESENT, 0, interp);
}
