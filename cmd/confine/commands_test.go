//go:build !confine_slim

package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestCommandNames: each entry of commands is named as its command is and has no alias,
// so that newRoot finds a command by the word that runs it.
func TestCommandNames(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range commands {
		cmd := c.build()
		if cmd.Name() != c.name || len(cmd.Aliases) > 0 || seen[c.name] {
			t.Errorf("commands entry %q builds %q (aliases %q)", c.name, cmd.Name(), cmd.Aliases)
		}
		seen[c.name] = true
	}
}

// TestRootTree: a command line that names a command gets that command alone, with the
// root's flags; any other gets every command, so help lists them all.
func TestRootTree(t *testing.T) {
	if got := newRoot([]string{"run", "x.yaml"}).Commands(); len(got) != 1 || got[0].Name() != "run" {
		t.Errorf("tree for run: %d commands", len(got))
	}
	if newRoot([]string{"run"}).PersistentFlags().Lookup("store") == nil {
		t.Error("tree for run has no --store")
	}
	for _, args := range [][]string{nil, {"--help"}, {"help", "run"}, {"nosuch"}} {
		if got := newRoot(args).Commands(); len(got) < len(commands) {
			t.Errorf("tree for %q: %d commands, want all %d", args, len(got), len(commands))
		}
	}
	var out, errb bytes.Buffer
	if code := execute([]string{"--help"}, &out, &errb); code != 0 {
		t.Fatalf("--help: exit %d: %s", code, errb.String())
	}
	for _, c := range commands {
		if !strings.Contains(out.String(), "\n  "+c.name+" ") {
			t.Errorf("--help does not list %s", c.name)
		}
	}
}
