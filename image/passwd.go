package image

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// maxAccountFile bounds what is read of an image's /etc/passwd or /etc/group.
const maxAccountFile = 1 << 20

// LookupUser resolves a config User ("name", "uid", "name:group", "uid:gid", …)
// against the image's own /etc/passwd and /etc/group, as the merged root would show
// them: layers top first, a whiteout or an opaque /etc ending the search. The files are
// read through os.Root in each unpacked layer, so a link in the image cannot lead
// outside it. A uid without a group takes the passwd entry's gid, else 0, as Docker does.
func (img *Image) LookupUser(spec string) (uid, gid uint32, err error) {
	user, group, hasGroup := strings.Cut(spec, ":")
	gidSet := false
	if n, ok := number(user); ok {
		uid = n
		if pw, err := img.accountFile("passwd"); err == nil {
			if f := findEntry(pw, 2, user); f != nil {
				gid, gidSet = mustNumber(f[3])
			}
		}
	} else {
		pw, err := img.accountFile("passwd")
		if err != nil {
			return 0, 0, fmt.Errorf("the image's User %q: %w", spec, err)
		}
		f := findEntry(pw, 0, user)
		if f == nil {
			return 0, 0, fmt.Errorf("the image's User %q: no user %q in the image's /etc/passwd", spec, user)
		}
		var ok1, ok2 bool
		uid, ok1 = mustNumber(f[2])
		gid, ok2 = mustNumber(f[3])
		if !ok1 || !ok2 {
			return 0, 0, fmt.Errorf("the image's User %q: a malformed /etc/passwd entry", spec)
		}
		gidSet = true
	}
	if hasGroup {
		if n, ok := number(group); ok {
			return uid, n, nil
		}
		gr, err := img.accountFile("group")
		if err != nil {
			return 0, 0, fmt.Errorf("the image's User %q: %w", spec, err)
		}
		f := findEntry(gr, 0, group)
		if f == nil {
			return 0, 0, fmt.Errorf("the image's User %q: no group %q in the image's /etc/group", spec, group)
		}
		n, ok := mustNumber(f[2])
		if !ok {
			return 0, 0, fmt.Errorf("the image's User %q: a malformed /etc/group entry", spec)
		}
		return uid, n, nil
	}
	if !gidSet {
		gid = 0
	}
	return uid, gid, nil
}

// accountFile reads /etc/NAME as the image's merged root shows it.
func (img *Image) accountFile(name string) ([]byte, error) {
	for i := len(img.LayerDirs) - 1; i >= 0; i-- {
		data, state, err := layerFile(img.LayerDirs[i], name, img.Layers[i].Xattr)
		switch {
		case err != nil:
			return nil, err
		case state == found_:
			return data, nil
		case state == hidden:
			return nil, fmt.Errorf("the image has no /etc/%s", name)
		}
	}
	return nil, fmt.Errorf("the image has no /etc/%s", name)
}

type lookState int

const (
	absent lookState = iota // not in this layer: look below
	found_
	hidden // a whiteout or an opaque directory: nothing below counts
)

// layerFile looks for etc/NAME in one unpacked layer.
func layerFile(dir, name, xattr string) ([]byte, lookState, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, absent, err
	}
	defer root.Close()
	if fi, err := root.Lstat("etc"); err == nil {
		if isWhiteout(fi) || !fi.IsDir() {
			return nil, hidden, nil
		}
	} else if errors.Is(err, fs.ErrNotExist) {
		return nil, absent, nil
	}
	fi, err := root.Lstat("etc/" + name)
	switch {
	case err == nil && isWhiteout(fi):
		return nil, hidden, nil
	case err == nil && fi.Mode().IsRegular():
		f, err := root.Open("etc/" + name)
		if err != nil {
			return nil, absent, err
		}
		defer f.Close()
		data, err := io.ReadAll(io.LimitReader(f, maxAccountFile))
		return data, found_, err
	case err == nil:
		return nil, absent, fmt.Errorf("the image's /etc/%s is not a regular file (a link is not followed)", name)
	}
	if opaque(root, xattr) {
		return nil, hidden, nil
	}
	return nil, absent, nil
}

func isWhiteout(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return fi.Mode()&fs.ModeCharDevice != 0 && ok && st.Rdev == 0
}

// opaque reports whether the layer's etc is an opaque directory.
func opaque(root *os.Root, xattr string) bool {
	f, err := root.Open("etc")
	if err != nil {
		return false
	}
	defer f.Close()
	buf := make([]byte, 4)
	n, err := unix.Fgetxattr(int(f.Fd()), xattr+".overlay.opaque", buf)
	return err == nil && n == 1 && buf[0] == 'y'
}

// findEntry returns the first line of a colon file whose field k is value.
func findEntry(data []byte, k int, value string) []string {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Split(sc.Text(), ":")
		if len(f) >= 4 && f[k] == value {
			return f
		}
	}
	return nil
}

func number(s string) (uint32, bool) {
	n, err := strconv.ParseUint(s, 10, 32)
	return uint32(n), err == nil && n < 1<<32-1
}

func mustNumber(s string) (uint32, bool) { return number(s) }
