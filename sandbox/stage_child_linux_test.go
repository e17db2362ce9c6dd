//go:build cgo && linux

package sandbox

import (
	"bytes"
	"os"
	"os/exec"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/confine-sandbox/confine/sandbox/stage"
)

// stageChild runs the C stage's program p in a child of this test binary (whose
// constructor is the stage) in a mount namespace of its own, its descriptors as a start
// gives them: fds 3 to 7 the program, the error pipe, the go pipe, the mounts socket and
// the ids pipe. beforeMounts, when set, runs with the child's pid and this end of the
// mounts socket before it is closed (OP_RECV_MOUNTS waits there until then). It returns
// the stage's output, what it wrote on the ids pipe, and its failure as the parent words
// it ("" when it ran).
func stageChild(t *testing.T, p *stage.Program, beforeMounts func(pid int, mounts *os.File)) (out, ids, failure string) {
	t.Helper()
	var files [5][2]*os.File
	for i := range files {
		r, w, err := os.Pipe()
		if i == 3 {
			fds, serr := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			r, w, err = os.NewFile(uintptr(fds[0]), "mounts"), os.NewFile(uintptr(fds[1]), "mounts"), serr
		}
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		defer w.Close()
		files[i] = [2]*os.File{r, w}
	}
	cmd := exec.Command("/proc/self/exe")
	cmd.Env = []string{stage.Marker}
	cmd.ExtraFiles = []*os.File{files[0][0], files[1][1], files[2][0], files[3][0], files[4][1]}
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNS}
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	files[0][0].Close()
	files[1][1].Close()
	files[3][0].Close()
	files[4][1].Close()
	files[0][1].Write(p.Bytes())
	files[0][1].Close()
	if beforeMounts != nil {
		beforeMounts(cmd.Process.Pid, files[3][1])
	}
	files[3][1].Close()
	rec, _ := readAll(files[1][0])
	idData, _ := readAll(files[4][0])
	cmd.Wait()
	if e, ok := stage.DecodeError(rec); ok {
		step, msg := p.Explain(e)
		return stdout.String(), string(idData), step + ": " + msg
	}
	return stdout.String(), string(idData), ""
}

func readAll(f *os.File) ([]byte, error) {
	var b bytes.Buffer
	_, err := b.ReadFrom(f)
	return b.Bytes(), err
}
