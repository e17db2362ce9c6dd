//go:build cgo && linux

// The hand-over of `confine run` to the slim binary, bin/confine-run beside this one
// (cmd/confine/slim.go): the full binary links libraries for every command, whose
// package initialisation alone costs a run more than a millisecond; the slim one has only
// what a run needs. The exec happens here, before the Go runtime starts, so the full
// binary costs the run only its exec. The slim binary must be a regular file (no
// symlink) owned by this binary's owner and writable by nobody else; it is executed from
// the descriptor so checked. It hands back to confine beside it, checked the same way
// (cmd/confine/slim.go), so only a binary named confine hands over. _CONFINE_FULL, set,
// tells this constructor not to hand over again (in either binary); a caller may set it,
// and neither binary reads its value. CONFINE_SLIM=off keeps the run here.
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "stage.h"

#define FULL_ENV "_CONFINE_FULL"
#define SLIM_NAME "confine-run"
#define FULL_NAME "confine"

extern char **environ;

void slim_run(char **argv) {
	if (getenv(FULL_ENV)) // handed over already (Go unsets it: cmd/confine's full.go, slim.go)
		return;
	const char *off = getenv("CONFINE_SLIM");
	if (off && strcmp(off, "off") == 0)
		return;
	char exe[PATH_MAX], path[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0)
		return;
	exe[n] = 0;
	char *slash = strrchr(exe, '/');
	struct stat self, st;
	if (!slash || strcmp(slash + 1, FULL_NAME) != 0 || strstr(exe, " (deleted)") || stat("/proc/self/exe", &self) < 0)
		return;
	if (snprintf(path, sizeof path, "%.*s/" SLIM_NAME, (int)(slash - exe), exe) >= (int)sizeof path)
		return;
	int fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == self.st_uid &&
	    !(st.st_mode & (S_IWGRP | S_IWOTH)) && (st.st_mode & S_IXUSR) &&
	    (st.st_dev != self.st_dev || st.st_ino != self.st_ino) && setenv(FULL_ENV, "1", 1) == 0) {
		syscall(SYS_execveat, fd, "", argv, environ, AT_EMPTY_PATH);
		unsetenv(FULL_ENV); // the exec failed: the run goes on here
	}
	close(fd);
}
