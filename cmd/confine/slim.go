//go:build confine_slim

// The slim binary, bin/confine-run (`go build -tags confine_slim`): `confine run` of a
// Plan or a policy file, without the libraries only other commands need (the image
// store and its registry client, the stack supervisor's HTTP API, exports, reports),
// whose package initialisation cost every run of the full binary more than a millisecond
// (docs/BENCHMARKS.md). The full binary's C constructor hands `confine run` to it
// before the Go runtime starts (sandbox/stage/stage_slim.c); it hands back, by exec
// and before anything is set up, every command and every run that needs what it lacks.
// Both run the same run.go: what differs is only whether a run gets here.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/confine-sandbox/confine/policy"
	"github.com/confine-sandbox/confine/policy/observe"
	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/sandbox"
)

var commands = []command{{"run", newRun}}

// fullEnv names the full binary to the slim one, and tells either binary's constructor
// not to hand the run over again (stage_slim.c).
const fullEnv = "_CONFINE_FULL"

// fullExe is the full binary: where the constructor that started this one said it is,
// else confine beside this binary.
var fullExe = func() string {
	exe := os.Getenv(fullEnv)
	os.Unsetenv(fullEnv) // not for the component, nor for what the run starts
	if exe == "" {
		if self, err := os.Executable(); err == nil {
			exe = filepath.Join(filepath.Dir(self), "confine")
		}
	}
	return exe
}()

// fullFor hands every command but run to the full binary.
func fullFor(args []string) {
	if len(args) == 0 || args[0] != "run" {
		handOver()
	}
}

// beforeRun hands a run to the full binary when it needs a part this one lacks: the
// lone run's uplink and published ports, the audit log, the image store.
func beforeRun(p *plan.Plan, c *plan.Component, publish []string, ra *runAudit) {
	if len(publish) > 0 || p.Single && p.Network.Uplink != nil || ra.enabled() || needsStore(c) {
		handOver()
	}
}

// handOver execs the full binary with this one's command line, after closing the early
// spawner (and its spare) this binary's constructor forked. It returns only if the exec
// fails, by exiting with status 2.
func handOver() {
	sandbox.EarlySpawner().Close()
	err := syscall.Exec(fullExe, os.Args, append(os.Environ(), fullEnv+"="+fullExe))
	fmt.Fprintf(os.Stderr, "confine: running the full binary %s: %v\n", fullExe, err)
	os.Exit(exitEnforcement)
}

// What follows is reached only for a run beforeRun kept, which needs none of it; each
// part fails closed all the same, should a run ever get there.

var errSlim = errors.New("confine-run lacks this part of a run; run the full binary")

// storeResolver is the full binary's for a policy with run.image: that run goes to it.
type storeResolver struct {
	pull     bool
	progress io.Writer
}

func (*storeResolver) ResolveImage(string) (*policy.ImageFacts, error) {
	handOver()
	return nil, errSlim
}

type loneNet struct {
	ra            *runAudit
	hosts, resolv string
}

func openLoneNet(p *plan.Plan, _ *plan.Component, publish []string, _ io.Writer) (*loneNet, error) {
	if len(publish) > 0 || p.Single && p.Network.Uplink != nil {
		return nil, errSlim
	}
	return nil, nil
}

func (*loneNet) close()                        {}
func (*loneNet) closeDrops()                   {}
func (*loneNet) attach(*sandbox.Sandbox) error { return errSlim }

type runAudit struct{ runAuditFlags }

func (*runAudit) open(*plan.Component, string, io.Writer) error { return errSlim }
func (*runAudit) launching(map[string]bool)                     {}
func (*runAudit) attach(*sandbox.Sandbox) error                 { return errSlim }
func (*runAudit) observed(observe.Call)                         {}
func (*runAudit) startFailed(error)                             {}
func (*runAudit) started(*sandbox.Sandbox)                      {}
func (*runAudit) exited(int, bool)                              {}

func prepareStorage(c *plan.Component, _ *sandbox.Options) (func(), error) {
	if needsStore(c) {
		return nil, errSlim
	}
	return func() {}, nil
}
