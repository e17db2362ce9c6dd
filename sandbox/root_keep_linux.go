package sandbox

import (
	"io"
	"os"
	"syscall"
)

// takeRoot hands over the root directory the last run left in k, when it is still an
// empty directory of uid:gid only it can enter (the last run's mount namespace, where
// the root was built, went with its last process). A restart then neither makes it
// nor removes it at the exit (mkdir and rmdir, about 0.1 ms each). Otherwise it removes
// it and returns "".
func (k *KeptCgroup) takeRoot(uid, gid uint32) string {
	if k == nil {
		return ""
	}
	k.mu.Lock()
	dir := k.root
	k.root = ""
	k.mu.Unlock()
	if dir == "" {
		return ""
	}
	if st, err := os.Lstat(dir); err == nil && st.IsDir() && st.Mode().Perm() == 0o700 {
		if sys, ok := st.Sys().(*syscall.Stat_t); ok && sys.Uid == uid && sys.Gid == gid && emptyDir(dir) {
			return dir
		}
	}
	os.Remove(dir) // only if empty; the sweep takes it with this supervisor otherwise
	return ""
}

// putRoot keeps dir for the next run, removing one kept before (there is none: a
// component runs once at a time).
func (k *KeptCgroup) putRoot(dir string) {
	k.mu.Lock()
	old := k.root
	k.root = dir
	k.mu.Unlock()
	if old != "" && old != dir {
		os.Remove(old)
	}
}

// emptyDir: dir has no entries.
func emptyDir(dir string) bool {
	f, err := os.Open(dir)
	if err != nil {
		return false
	}
	defer f.Close()
	_, err = f.Readdirnames(1)
	return err == io.EOF
}
