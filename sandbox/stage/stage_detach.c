//go:build cgo && linux

// The old root's detach beside the stage's next steps. umount2(MNT_DETACH) takes the old
// root's mounts out of the namespace, then waits for an RCU grace period before it
// returns (namespace_unlock's synchronize_rcu_expedited): 50 µs on an idle machine, and
// on two busy cores 0.14-1 ms, most of it the stage waiting for a core again after the
// wait (docs/BENCHMARKS.md, session 24). A thread of the stage's, with its own copy of
// the cwd (no CLONE_FS: the old root mounted on it after pivot_root(".", ".")), makes the
// call; the stage goes on, and joins it before seccomp and exec, so that the component
// never runs with the old root there. Until then the old root is mounted over the new
// root's root, where no path the stage walks from its root goes (a lookup starts beneath
// the root, not in what is mounted over it).
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "stage.h"

static pid_t helper; // its tid until it exits: the kernel clears it (CLONE_CHILD_CLEARTID)
static int helper_err;
static struct op pivot_op; // for the failure's op index
static char stack[16384] __attribute__((aligned(16)));

static int detach(void *unused) {
	(void)unused;
	// errno is the stage's (the thread shares its TLS), and written only on a failure,
	// which fails the stage at the join.
	if (syscall(SYS_umount2, ".", MNT_DETACH) < 0)
		helper_err = errno ? errno : EIO;
	return 0;
}

void stage_detach_old_root(const struct op *op) {
	pivot_op.index = op->index;
	if (clone(detach, stack + sizeof stack,
		  CLONE_VM | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID, NULL,
		  &helper, NULL, &helper) >= 0)
		return;
	if (umount2(".", MNT_DETACH) < 0) // no thread: the call on the path, as before
		stage_fail(op, errno, 0, 0, "detaching the old root");
}

void stage_detach_join(void) {
	for (pid_t t; (t = __atomic_load_n(&helper, __ATOMIC_ACQUIRE)) != 0;)
		syscall(SYS_futex, &helper, FUTEX_WAIT, t, NULL, NULL, 0); // refused (a filter): it spins
	if (helper_err)
		stage_fail(&pivot_op, helper_err, 0, 0, "detaching the old root");
}
