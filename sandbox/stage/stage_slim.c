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
// and neither binary reads its value. CONFINE_SLIM=off keeps the run here. The slim
// binary must also be this build's (paired): one left from another build would run
// other code than the confine that was installed.
#define _GNU_SOURCE
#include <elf.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
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

#define NOTE_GO_BUILDID 4 // the Go linker's note of the binary's build ID
#define PAIR_LEN 16       // what the Makefile's PAIR takes of it (the -B limit)

extern char **environ;

// elf_note copies the descriptor of the note named name (4 bytes with its padding) of
// type from the notes the first page of the ELF file fd holds, where the linkers put
// them, into desc; its length, or -1 when there is none or it is longer than size.
static ssize_t elf_note(int fd, const char name[4], uint32_t type, char *desc, size_t size) {
	unsigned char page[4096];
	ssize_t got = pread(fd, page, sizeof page, 0);
	Elf64_Ehdr eh;
	if (got < (ssize_t)sizeof eh || memcmp(page, ELFMAG, SELFMAG) != 0 || page[EI_CLASS] != ELFCLASS64)
		return -1;
	memcpy(&eh, page, sizeof eh);
	if (eh.e_phentsize != sizeof(Elf64_Phdr))
		return -1;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		uint64_t at = eh.e_phoff + (uint64_t)i * sizeof ph;
		if (at > (uint64_t)got || (uint64_t)got - at < sizeof ph)
			return -1;
		memcpy(&ph, page + at, sizeof ph);
		if (ph.p_type != PT_NOTE || ph.p_offset > (uint64_t)got || ph.p_filesz > (uint64_t)got - ph.p_offset)
			continue;
		uint64_t off = ph.p_offset, end = ph.p_offset + ph.p_filesz;
		while (end - off >= sizeof(Elf64_Nhdr)) {
			Elf64_Nhdr nh;
			memcpy(&nh, page + off, sizeof nh);
			uint64_t name_at = off + sizeof nh, desc_at = name_at + (((uint64_t)nh.n_namesz + 3) & ~3ull),
				 next = desc_at + (((uint64_t)nh.n_descsz + 3) & ~3ull);
			if (next > end)
				break;
			if (nh.n_type == type && nh.n_namesz == 4 && memcmp(page + name_at, name, 4) == 0) {
				if (nh.n_descsz > size)
					return -1;
				memcpy(desc, page + desc_at, nh.n_descsz);
				return nh.n_descsz;
			}
			off = next;
		}
	}
	return -1;
}

// paired: the slim binary on fd carries as its GNU build ID the first PAIR_LEN bytes of
// the last part of this binary's Go build ID (its content hash), as the Makefile links it
// (-B), right after this one. A confine-run of another build, or of none, is not run.
static int paired(int fd) {
	char id[256], got[64];
	int self = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (self < 0)
		return 0;
	ssize_t n = elf_note(self, "Go\0\0", NOTE_GO_BUILDID, id, sizeof id - 1);
	close(self);
	if (n <= 0)
		return 0;
	id[n] = 0;
	const char *last = strrchr(id, '/');
	last = last ? last + 1 : id;
	return strlen(last) >= PAIR_LEN && elf_note(fd, "GNU\0", NT_GNU_BUILD_ID, got, sizeof got) == PAIR_LEN &&
	       memcmp(got, last, PAIR_LEN) == 0;
}

// needs_full guesses from run's flags (those before "--") whether the slim binary would
// hand the run back at once (slim.go's beforeRun): -p, --audit-log, --show-denials. A
// wrong guess costs only time: the full binary runs everything, and the slim one still
// hands back what it must.
static int needs_full(char **argv) {
	for (char **a = argv + 2; *a && strcmp(*a, "--") != 0; a++) {
		const char *f = *a;
		if (strncmp(f, "-p", 2) == 0 || strncmp(f, "--publish", 9) == 0 || strncmp(f, "--audit-log", 11) == 0 ||
		    strncmp(f, "--show-denials", 14) == 0)
			return 1;
	}
	return 0;
}

void slim_run(char **argv) {
	if (getenv(FULL_ENV) || needs_full(argv)) // handed over already (Go unsets it: cmd/confine's full.go, slim.go)
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
	    (st.st_dev != self.st_dev || st.st_ino != self.st_ino)) {
		// Read through the descriptor checked: only a regular file is opened to be read.
		char fdpath[32];
		snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", fd);
		int rd = open(fdpath, O_RDONLY | O_CLOEXEC);
		if (rd >= 0 && paired(rd) && setenv(FULL_ENV, "1", 1) == 0) {
			syscall(SYS_execveat, fd, "", argv, environ, AT_EMPTY_PATH);
			unsetenv(FULL_ENV); // the exec failed: the run goes on here
		}
		if (rd >= 0)
			close(rd);
	}
	close(fd);
}
