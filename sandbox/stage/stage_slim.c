//go:build cgo && linux

// The front door: bin/confine is the slim binary (cmd/confine/slim.go), built with only
// what `confine run` needs, and bin/confine-full beside it the full one, which links the
// libraries of every other command, whose package initialisation alone would cost a run
// more than a millisecond. The slim binary's constructor hands every other command, and
// every run it guesses it would hand back after its compile, to confine-full here, before
// its Go runtime starts: such a command costs one exec more, a plain run none. The full
// binary must be a regular file (no symlink) owned by this binary's owner, writable by
// nobody else, and of this build (paired: bin/confine's GNU build ID is the head of
// confine-full's Go build ID, as the Makefile links them): one left from another build
// would run other code than the confine that was installed. It is executed from the
// descriptor so checked. Untrusted or missing, the command goes on here, and main hands
// it over once more or fails saying why (slim.go's handOver). _CONFINE_FULL marks the
// full binary's start for its own init (full.go); a caller may set it, and no binary
// reads its value. CONFINE_SLIM=off sends runs to the full binary too.
#define _GNU_SOURCE
#include <elf.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "stage.h"

#define FULL_ENV "_CONFINE_FULL"
#define FULL_NAME "confine-full"
#define SHOWN_NAME "confine" // the full binary's process name, for ps and pgrep

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

// paired: the full binary on fd carries as the head of the last part of its Go build ID
// (its content hash) this binary's GNU build ID, which the Makefile links (-B) from it.
// A confine-full of another build, or a binary with no such note, is not run.
int stage_paired_full(int fd) {
	char id[256], own[64];
	int self = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (self < 0)
		return 0;
	ssize_t n = elf_note(self, "GNU\0", NT_GNU_BUILD_ID, own, sizeof own);
	close(self);
	if (n != PAIR_LEN)
		return 0;
	n = elf_note(fd, "Go\0\0", NOTE_GO_BUILDID, id, sizeof id - 1);
	if (n <= 0)
		return 0;
	id[n] = 0;
	const char *last = strrchr(id, '/');
	last = last ? last + 1 : id;
	return strlen(last) >= PAIR_LEN && memcmp(own, last, PAIR_LEN) == 0;
}

// Run's flags that take a value (pflag: "--flag value" or "--flag=value"); -p/--publish
// and --audit-log send the run to the full binary before their value matters.
static const char *const value_flags[] = {"--component", "--grace", "--timeout", "--plan", "--store", NULL};

static int takes_value(const char *f) {
	for (const char *const *v = value_flags; *v; v++)
		if (strcmp(f, *v) == 0)
			return 1;
	return 0;
}

// MAX_PEEK bounds what input_needs_full reads of a policy or Plan: a larger file stays in
// the slim binary unread, which still hands back what it must.
enum { MAX_PEEK = 256 << 10 };

static int name_char(char c) {
	return c == '_' || c == '-' || c == '.' || (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}

// has_key reports whether buf holds word as a YAML or JSON key: after a character that
// cannot be part of a name, then an optional quote, blanks and a colon ("image:",
// "\"uplink\": {", "volume :"). A comment or a string that reads so is a wrong guess,
// which costs only time.
static int has_key(const char *buf, size_t n, const char *word) {
	size_t w = strlen(word);
	for (const char *p = buf; (p = memmem(p, n - (size_t)(p - buf), word, w)) != NULL; p++) {
		if (p > buf && name_char(p[-1]))
			continue;
		const char *q = p + w, *end = buf + n;
		if (q < end && (*q == '"' || *q == '\''))
			q++;
		while (q < end && (*q == ' ' || *q == '\t'))
			q++;
		if (q < end && *q == ':')
			return 1;
	}
	return 0;
}

// input_needs_full guesses from the run's policy or Plan, when it is a regular file of
// at most MAX_PEEK bytes, whether it names what the slim binary hands back for after its
// compile (slim.go's beforeRun): an image or a volume (the image store), a connect (the
// lone run's uplink, unless every one stays on loopback), a Plan's uplink. The full
// binary reads the file anyway: only a regular one is opened here (opening a device or a
// FIFO could block or do something), without following the answer further.
static int input_needs_full(const char *path) {
	struct stat st;
	// Checked by a descriptor that opens nothing, then read through it: a name swapped
	// between a stat and an open could make root open a device or a FIFO.
	int at = path ? open(path, O_PATH | O_CLOEXEC) : -1;
	if (at < 0)
		return 0;
	int fd = -1;
	if (fstat(at, &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= MAX_PEEK) {
		char fdpath[32];
		snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", at);
		fd = open(fdpath, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	}
	close(at);
	if (fd < 0)
		return 0;
	static char buf[MAX_PEEK];
	ssize_t n = 0;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		n = read(fd, buf, sizeof buf);
	close(fd);
	if (n <= 0)
		return 0;
	return has_key(buf, (size_t)n, "image") || has_key(buf, (size_t)n, "volume") ||
	       memmem(buf, (size_t)n, "\"volume\"", 8) || has_key(buf, (size_t)n, "connect") ||
	       has_key(buf, (size_t)n, "uplink");
}

// needs_full guesses from run's command line (before "--") whether the slim binary would
// hand the run back (slim.go's beforeRun): -p, --audit-log, --show-denials, or an input
// that names what it lacks (input_needs_full). A wrong guess costs only time: the full
// binary runs everything, and the slim one still hands back what it must; a handed-back
// run pays both binaries' starts.
static int needs_full(char **argv) {
	const char *input = NULL, *plan = NULL;
	for (char **a = argv + 2; *a && strcmp(*a, "--") != 0; a++) {
		const char *f = *a;
		if (strncmp(f, "-p", 2) == 0 || strncmp(f, "--publish", 9) == 0 || strncmp(f, "--audit-log", 11) == 0 ||
		    strncmp(f, "--show-denials", 14) == 0)
			return 1;
		if (strncmp(f, "--plan=", 7) == 0)
			plan = f + 7;
		else if (strcmp(f, "--plan") == 0 && a[1])
			plan = *++a;
		else if (takes_value(f) && a[1])
			a++;
		else if (f[0] != '-' && !input)
			input = f;
	}
	return input_needs_full(plan ? plan : input);
}

// exec_full execs confine-full beside this binary with argv, when it is trusted and
// paired (above); it returns when it is not, or the exec fails.
static void exec_full(char **argv) {
	char exe[PATH_MAX], path[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0)
		return;
	exe[n] = 0;
	char *slash = strrchr(exe, '/');
	struct stat self, st;
	if (!slash || strstr(exe, " (deleted)") || stat("/proc/self/exe", &self) < 0)
		return;
	if (snprintf(path, sizeof path, "%.*s/" FULL_NAME, (int)(slash - exe), exe) >= (int)sizeof path)
		return;
	int fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	// Never setuid or setgid (README): an exec by another user would run it as its owner.
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == self.st_uid &&
	    !(st.st_mode & (S_IWGRP | S_IWOTH | S_ISUID | S_ISGID)) && (st.st_mode & S_IXUSR) &&
	    (st.st_dev != self.st_dev || st.st_ino != self.st_ino)) {
		// Read through the descriptor checked: only a regular file is opened to be read.
		char fdpath[32];
		snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", fd);
		// Nor with file capabilities: they would go with any user's exec too.
		int caps = getxattr(fdpath, "security.capability", NULL, 0) >= 0;
		int rd = caps ? -1 : open(fdpath, O_RDONLY | O_CLOEXEC);
		if (rd >= 0 && stage_paired_full(rd) && setenv(FULL_ENV, "1", 1) == 0) {
			syscall(SYS_execveat, fd, "", argv, environ, AT_EMPTY_PATH);
			unsetenv(FULL_ENV); // the exec failed: main hands over or says why
		}
		if (rd >= 0)
			close(rd);
	}
	close(fd);
}

// INIT_ARG is sandbox.InitArg: the Go init stage, which a run of this binary re-executes
// from /proc/self/exe inside the new namespaces (with no environment), and main runs
// before anything else. It is this binary's own run: handed over, it would pay the full
// binary's exec and start inside every run that takes the Go init (without root, or
// CONFINE_STAGE=go, or a step only the Go init does).
#define INIT_ARG "__confine_init"

// slim_front runs in the slim binary's constructor: it returns when this binary serves
// the command, a plain `confine run` it would not hand back (needs_full) or its Go init
// stage, and hands every other command to confine-full.
void slim_front(char **argv) {
	const char *off = getenv("CONFINE_SLIM");
	if (argv[1] && strcmp(argv[1], INIT_ARG) == 0)
		return;
	if (argv[1] && strcmp(argv[1], "run") == 0 && !needs_full(argv) && !(off && strcmp(off, "off") == 0))
		return;
	exec_full(argv);
}

// full_named gives the full binary, started by the slim one as confine-full, the process
// name confine: ps and pgrep name confine's processes as the command line does.
void full_named(void) {
	if (getenv(FULL_ENV))
		prctl(PR_SET_NAME, SHOWN_NAME, 0, 0, 0);
}
