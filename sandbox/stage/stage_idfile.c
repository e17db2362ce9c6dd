//go:build cgo && linux

// The sandbox's /etc/passwd and /etc/group, read as sandbox/groups_linux.go's scanIDFile
// and its callers read them, without NSS (it would load the image's libraries into the
// stage): the files are the image's, untrusted. Only a regular file, not through a last
// symlink, and only its first ID_FILE_MAX bytes (io.LimitReader); a line of ID_LINE_MAX
// bytes or more fails the whole file (bufio.Scanner's ErrTooLong); a line's trailing \r
// is dropped (bufio.ScanLines); a line with fewer than nfields colon-separated fields,
// or whose id fields are not decimal u32s (strconv.ParseUint(s, 10, 32)), is skipped;
// the first remaining line for a name wins (getpwnam(3)).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stage_user.h"

// parse_u32 is strconv.ParseUint(s, 10, 32): one or more digits, at most 4294967295.
static int parse_u32(const char *s, size_t n, uint32_t *out) {
	uint64_t v = 0;
	if (n == 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v > 0xffffffffu)
			return -1;
	}
	*out = (uint32_t)v;
	return 0;
}

// id_line matches one line against the queries not yet found: fields 0 (the name) and
// 2 to nfields-1 (the ids) of a line that has at least nfields.
static void id_line(const char *s, size_t n, unsigned nfields, struct id_query *q, unsigned nq) {
	const char *field[ID_MAX_FIELDS];
	size_t len[ID_MAX_FIELDS];
	unsigned k = 0;
	size_t start = 0;
	for (size_t i = 0; i <= n && k < nfields; i++)
		if (i == n || s[i] == ':') {
			field[k] = s + start, len[k] = i - start, k++;
			start = i + 1;
		}
	if (k < nfields)
		return;
	for (unsigned j = 0; j < nq; j++) {
		if (q[j].found || q[j].len != len[0] || memcmp(q[j].name, field[0], len[0]) != 0)
			continue;
		uint32_t ids[ID_MAX_FIELDS - 2];
		int ok = 1;
		for (unsigned f = 2; f < nfields; f++)
			ok = ok && parse_u32(field[f], len[f], &ids[f - 2]) == 0;
		if (ok) {
			memcpy(q[j].id, ids, (nfields - 2) * sizeof(uint32_t));
			q[j].found = 1;
		}
	}
}

// id_lines splits the file's bytes as bufio.ScanLines does, within bufio's token bound.
static int id_lines(const char *buf, size_t n, unsigned nfields, struct id_query *q, unsigned nq) {
	size_t pos = 0;
	while (pos < n) {
		size_t rest = n - pos, len, next;
		const char *nl = memchr(buf + pos, '\n', rest < ID_LINE_MAX ? rest : ID_LINE_MAX);
		if (nl)
			len = (size_t)(nl - (buf + pos)), next = pos + len + 1;
		else if (rest < ID_LINE_MAX)
			len = rest, next = n; // the last line, without its newline
		else
			return ID_TOO_LONG; // bufio's buffer is full without a newline
		if (len > 0 && buf[pos + len - 1] == '\r')
			len--;
		id_line(buf + pos, len, nfields, q, nq);
		pos = next;
	}
	return ID_OK;
}

int id_file_scan(const char *path, unsigned nfields, struct id_query *q, unsigned nq, int *err) {
	*err = 0;
	if (nfields < 3 || nfields > ID_MAX_FIELDS)
		return *err = EINVAL, ID_READ;
	// O_NONBLOCK: a FIFO in its place would block the open.
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return *err = errno, ID_OPEN;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return ID_NOT_REGULAR;
	}
	// Sized from the file, one byte more to see its end; grown if it grew, to the bound.
	size_t n = 0, cap = st.st_size < ID_FILE_MAX ? (size_t)st.st_size + 1 : ID_FILE_MAX;
	char *buf = malloc(cap);
	while (buf && n < ID_FILE_MAX) {
		if (n == cap) {
			char *more = realloc(buf, cap = cap * 2 < ID_FILE_MAX ? cap * 2 : ID_FILE_MAX);
			if (!more)
				free(buf);
			buf = more;
			continue;
		}
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			*err = errno;
			close(fd);
			free(buf);
			return ID_READ;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (!buf)
		return *err = ENOMEM, ID_READ;
	int res = id_lines(buf, n, nfields, q, nq);
	free(buf);
	return res;
}
