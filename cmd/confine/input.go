package main

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sync"

	"github.com/confine-sandbox/confine/policy"
)

// shellFD matches the names a shell gives a pipe it made for this command: bash's and
// zsh's process substitution (/dev/fd/63, /proc/self/fd/11) and /dev/stdin. They are
// symlinks out of their directory by nature, but the user typed them, while a change can
// only make a name in its checkout lead somewhere.
var shellFD = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^(/dev/fd/[0-9]+|/proc/(self|thread-self|[0-9]+)/fd/[0-9]+|/dev/stdin)$`)
})

// isPipe reports whether file, as named, is a pipe to read once: a FIFO named directly,
// or a shell's pipe (shellFD). A name that only leads to a FIFO through a symlink is not,
// and is then refused as a policy would be (policy.Tree).
func isPipe(file string) bool {
	fi, err := os.Lstat(file)
	if err == nil && fi.Mode()&fs.ModeSymlink != 0 && shellFD().MatchString(filepath.Clean(file)) {
		fi, err = os.Stat(file)
	}
	return err == nil && fi.Mode()&fs.ModeNamedPipe != 0
}

// openInput opens a file named on the command line that is not a policy (a Plan in
// JSON): a pipe as isPipe says, or else a regular file opened as the file a policy
// command names is, beneath its own directory (policy.Tree), so that a change's symlink
// out of its checkout is refused before anything is read.
func openInput(file string) (io.ReadCloser, error) {
	if isPipe(file) {
		return os.Open(file)
	}
	t, err := policy.OpenTree(file)
	if err != nil {
		return nil, err
	}
	defer t.Close() // what is open stays open
	return t.Open(file)
}

// readInput reads at most limit bytes of what openInput opens, into a buffer of the
// file's size when it has one: io.ReadAll grows from 512 bytes, copying, and a run
// --plan's fresh heap pays a page fault for each new page.
func readInput(file string, limit int64) ([]byte, error) {
	f, err := openInput(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var buf bytes.Buffer
	if st, ok := f.(interface{ Stat() (fs.FileInfo, error) }); ok {
		if fi, err := st.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() <= limit {
			buf.Grow(int(fi.Size()) + bytes.MinRead)
		}
	}
	_, err = buf.ReadFrom(io.LimitReader(f, limit+1))
	data := buf.Bytes()
	if err == nil && int64(len(data)) > limit {
		err = fmt.Errorf("larger than %d MiB", limit>>20)
	}
	return data, err
}

// maxPipedInput bounds what OLD or NEW may hold when read from a pipe.
const maxPipedInput = 64 << 20
