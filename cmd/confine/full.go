//go:build !confine_slim

package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/confine-sandbox/confine/policy/plan"
	_ "github.com/confine-sandbox/confine/sandbox/nsenter" // confine exec's pre-runtime stage
)

// commands are the top-level commands in the order help lists them.
var commands = []command{
	{"check", newCheck}, {"explain", newExplain}, {"compile", newCompile}, {"preflight", newPreflight},
	{"run", newRun}, {"version", newVersion}, {"up", newUp}, {"down", newDown}, {"ps", newPs},
	{"exec", newExec}, {"logs", newLogs}, {"events", newEvents}, {"audit", newAuditCmd},
	{"stop", func() *cobra.Command {
		return newAction("stop", "Stop components (SIGTERM, then SIGKILL after --grace); they stay stopped")
	}},
	{"start", func() *cobra.Command { return newAction("start", "Start stopped components") }},
	{"restart", func() *cobra.Command { return newAction("restart", "Stop and start components") }},
	{"pause", func() *cobra.Command { return newAction("pause", "Freeze components (cgroup freezer)") }},
	{"unpause", func() *cobra.Command { return newAction("unpause", "Thaw paused components") }},
	{"pull", newPull}, {"images", newImages}, {"image", newImageCmd}, {"load", newLoad},
	{"volume", newVolumeCmd}, {"export", newExport}, {"learn", newLearn},
}

// _CONFINE_FULL marks this binary's start by the slim one (slim.go, stage_slim.c), whose
// constructor named the process after it; nothing this binary starts needs it.
func init() { os.Unsetenv("_CONFINE_FULL") }

// fullFor does nothing in the full binary: it runs every command itself (slim.go).
func fullFor(args []string) {}

// beforeInput does nothing in the full binary: it reads a piped Plan once (slim.go).
func beforeInput(planFile string) {}

// beforeRun does nothing in the full binary: it has every part of a run (slim.go).
func beforeRun(p *plan.Plan, c *plan.Component, publish []string, ra *runAudit) {}
