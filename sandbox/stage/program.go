// Package stage is the C init stage (stage*.c), run from a cgo constructor before the Go
// runtime starts, and the program the Go parent renders for it from the sandbox's steps
// table: a flat list of ops (mount, pivot_root, setrlimit, capset, Landlock rules, the
// Plan's seccomp bytes, execve) that the stage runs in order with raw syscalls. The stage
// reports a failure as the op's index, an errno and a detail; the parent words it, with
// the words the Go init uses for the same failure.
package stage

import (
	"encoding/binary"
	"fmt"
	"syscall"
)

// Marker, in the re-executed binary's environment, makes the constructor run the stage.
const Marker = "_CONFINE_STAGE=1"

// SpawnerMarker makes the constructor serve as the pre-forked spawner (stage_spawn.c).
const SpawnerMarker = "_CONFINE_STAGE=spawner"

// MaxMounts bounds the mounts of a program: stage_mounts.c keeps that many detached
// mounts and read-only binds (MAX_DETACHED, MAX_READONLY).
const MaxMounts = 4096

// Op codes; stage.h holds the same list.
const (
	OpStep = 1 + iota
	OpMount
	OpRecvMounts
	OpBind
	OpRequire
	OpSymlink
	OpReadonly
	OpPivot
	OpMask
	OpBindRO
	OpHostname
	OpRlimit
	OpPrctl
	OpWrite
	OpLoopback
	OpCaps
	OpLandlock
	OpWaitGo
	OpCloseFDs
	OpChdir
	OpSeccomp
	OpExec
	OpStageHosts
	OpMountHosts
	OpCgroupSelf
	OpGroups
	OpUser
	OpSafeTarget
	OpUpper
	OpAttach
	OpAhead
)

// OpAhead's pieces (stage.h's AHEAD_PROC, AHEAD_MASKS): the lone run's spare makes the
// Plan's default /proc, its masks and read-only binds ahead (stage_ahead.c).
const (
	AheadProc  = 1 // stands for the next op, the proc's mount
	AheadMasks = 2 // stands for the next ops, the masks then the read-only binds
)

// Error is the stage's report of a failed op.
type Error struct {
	Op     int // the op's index, -1 before any op ran
	Errno  syscall.Errno
	Kind   uint32 // which part of the op failed, per op
	Aux    uint64 // the rule, capability or index the part concerns
	Detail string // the call and path, as Go's *PathError words them, or ""
}

// Cause is the failure in Go's words: "detail: errno", either part left out when empty.
func (e Error) Cause() string {
	switch {
	case e.Detail != "" && e.Errno != 0:
		return e.Detail + ": " + e.Errno.Error()
	case e.Detail != "":
		return e.Detail
	}
	return e.Errno.Error()
}

// Formatter words an op's failure; nil words it as prefix-less Cause.
type Formatter func(Error) string

type op struct {
	code   uint16
	step   string
	ints   []uint64
	strs   []string
	format Formatter
}

// Program is the rendered init: the ops, each under the step that rendered it.
type Program struct {
	ops                       []op
	step                      string
	TraceOrigin, TraceStarted int64
}

// Step starts the ops of one step of the steps table.
func (p *Program) Step(name string) {
	p.step = name
	p.Add(OpStep, nil, []string{name}, nil)
}

// Add appends an op under the current step.
func (p *Program) Add(code uint16, ints []uint64, strs []string, format Formatter) {
	p.ops = append(p.ops, op{code: code, step: p.step, ints: ints, strs: strs, format: format})
}

// Bytes is the wire form: "CST1", the op count, the trace origin and start (u32, i64, i64),
// then each op: code, step, int count, string count (u16 each), the ints (u64), and the
// strings, each a u32 length, the bytes and a NUL. Little-endian, as the stage's machine.
func (p *Program) Bytes() []byte {
	b := []byte("CST1")
	b = binary.LittleEndian.AppendUint32(b, uint32(len(p.ops)))
	b = binary.LittleEndian.AppendUint64(b, uint64(p.TraceOrigin))
	b = binary.LittleEndian.AppendUint64(b, uint64(p.TraceStarted))
	for _, o := range p.ops {
		b = binary.LittleEndian.AppendUint16(b, o.code)
		b = binary.LittleEndian.AppendUint16(b, 0)
		b = binary.LittleEndian.AppendUint16(b, uint16(len(o.ints)))
		b = binary.LittleEndian.AppendUint16(b, uint16(len(o.strs)))
		for _, v := range o.ints {
			b = binary.LittleEndian.AppendUint64(b, v)
		}
		for _, s := range o.strs {
			b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
			b = append(b, s...)
			b = append(b, 0)
		}
	}
	return b
}

// Check refuses a program the wire form cannot carry (65,535 ints or strings per op).
func (p *Program) Check() error {
	for _, o := range p.ops {
		if len(o.ints) > 0xffff || len(o.strs) > 0xffff {
			return fmt.Errorf("step %s: an op too large for the C stage", o.step)
		}
	}
	return nil
}

// DecodeError reads the stage's error record; ok is false for anything else (the Go
// init's JSON).
func DecodeError(data []byte) (e Error, ok bool) {
	if len(data) < 28 || string(data[:4]) != "\x00CST" {
		return e, false
	}
	le := binary.LittleEndian
	e.Op = int(int32(le.Uint32(data[4:])))
	e.Errno = syscall.Errno(le.Uint32(data[8:]))
	e.Kind = le.Uint32(data[12:])
	e.Aux = le.Uint64(data[16:])
	n := int(le.Uint32(data[24:]))
	if n > len(data)-28 {
		n = len(data) - 28
	}
	e.Detail = string(data[28 : 28+n])
	return e, true
}

// Explain names the step e happened in and words it: the op's formatter, or Cause.
// Before the first op (reading the program) the step is "config".
func (p *Program) Explain(e Error) (step, msg string) {
	if e.Op < 0 || e.Op >= len(p.ops) {
		return "config", e.Cause()
	}
	o := p.ops[e.Op]
	if o.format != nil {
		return o.step, o.format(e)
	}
	return o.step, e.Cause()
}

// Prefixed words a failure as "prefix: cause", the shape of fmt.Errorf("prefix: %w").
func Prefixed(prefix string) Formatter {
	return func(e Error) string { return prefix + ": " + e.Cause() }
}
