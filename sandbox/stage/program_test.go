package stage

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// TestBytes holds the wire form stage.c reads: header, then each op's counts, ints and
// NUL-terminated strings.
func TestBytes(t *testing.T) {
	p := &Program{TraceOrigin: 7, TraceStarted: 9}
	p.Step("hostname")
	p.Add(OpHostname, []uint64{42}, []string{"box"}, nil)
	b := p.Bytes()
	le := binary.LittleEndian
	if string(b[:4]) != "CST1" || le.Uint32(b[4:]) != 2 || le.Uint64(b[8:]) != 7 || le.Uint64(b[16:]) != 9 {
		t.Fatalf("header % x", b[:24])
	}
	step := b[24:]
	if le.Uint16(step) != OpStep || le.Uint16(step[4:]) != 0 || le.Uint16(step[6:]) != 1 || le.Uint32(step[8:]) != 8 || string(step[12:21]) != "hostname\x00" {
		t.Fatalf("step op % x", step[:21])
	}
	op := step[21:]
	want := []byte{OpHostname, 0, 0, 0, 1, 0, 1, 0, 42, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 'b', 'o', 'x', 0}
	if !bytes.Equal(op, want) {
		t.Fatalf("hostname op % x, want % x", op, want)
	}
}

// TestExplain words a stage error with the failed op's step and formatter, and refuses
// records that are not the stage's.
func TestExplain(t *testing.T) {
	p := &Program{}
	p.Step("rlimits")
	p.Add(OpRlimit, []uint64{7, 1, 1}, nil, Prefixed("RLIMIT_NOFILE"))
	rec := []byte("\x00CST")
	rec = binary.LittleEndian.AppendUint32(rec, 1)
	rec = binary.LittleEndian.AppendUint32(rec, uint32(syscall.EPERM))
	rec = binary.LittleEndian.AppendUint32(rec, 0)
	rec = binary.LittleEndian.AppendUint64(rec, 0)
	rec = binary.LittleEndian.AppendUint32(rec, 0)
	e, ok := DecodeError(rec)
	if !ok {
		t.Fatal("the stage's record was not read")
	}
	if step, msg := p.Explain(e); step != "rlimits" || msg != "RLIMIT_NOFILE: operation not permitted" {
		t.Errorf("got %s: %s", step, msg)
	}
	if _, ok := DecodeError([]byte(`{"step":"mounts","error":"x"}`)); ok {
		t.Error("the Go init's JSON was read as a stage record")
	}
	e.Op = 99
	if step, _ := p.Explain(e); step != "config" {
		t.Errorf("an op out of range is in step %s, want config", step)
	}
}

// TestOpCodesMatchHeader: the Go op codes are stage.h's enum, in its order.
func TestOpCodesMatchHeader(t *testing.T) {
	h, err := os.ReadFile("stage.h")
	if err != nil {
		t.Fatal(err)
	}
	body := string(h)
	body = body[strings.Index(body, "OP_STEP = 1"):strings.Index(body, "OP_MAX,")]
	var names []string
	for _, line := range strings.Split(body, "\n") {
		if name, _, ok := strings.Cut(strings.TrimSpace(line), ","); ok {
			names = append(names, strings.Fields(name)[0])
		}
	}
	want := map[string]int{"OP_STEP": OpStep, "OP_MOUNT_HOSTS": OpMountHosts, "OP_CGROUP_SELF": OpCgroupSelf,
		"OP_SAFE_TARGET": OpSafeTarget, "OP_UPPER": OpUpper, "OP_ATTACH": OpAttach, "OP_AHEAD": OpAhead}
	if len(names) != OpAhead {
		t.Errorf("stage.h has %d ops, program.go %d", len(names), OpAhead)
	}
	if pieces := fmt.Sprintf("AHEAD_PROC = %d, AHEAD_MASKS = %d", AheadProc, AheadMasks); !strings.Contains(string(h), pieces) {
		t.Errorf("stage.h's OP_AHEAD pieces are not program.go's (%s)", pieces)
	}
	for name, code := range want {
		if i := slices.Index(names, name); i+1 != code {
			t.Errorf("%s is op %d in stage.h, %d in program.go", name, i+1, code)
		}
	}
}
