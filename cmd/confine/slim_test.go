//go:build !confine_slim

package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestSlimLeavesOut: the slim binary (cmd/confine/slim.go) links none of the libraries
// that only other commands need, whose package inits would cost every run again; and it
// has what a run needs.
func TestSlimLeavesOut(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-tags", "confine_slim,netgo,osusergo", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	for _, pkg := range []string{
		"github.com/confine-sandbox/confine/image", "github.com/confine-sandbox/confine/supervisor",
		"github.com/google/go-containerregistry/pkg/v1/remote", "github.com/klauspost/compress/zstd",
		"net/http", "html/template", "github.com/vbauerster/mpb/v8", "go.yaml.in/yaml/v2",
		"github.com/opencontainers/go-digest", "github.com/miekg/dns",
	} {
		if slices.Contains(deps, pkg) {
			t.Errorf("the slim binary links %s", pkg)
		}
	}
	for _, pkg := range []string{
		"github.com/confine-sandbox/confine/sandbox", "github.com/confine-sandbox/confine/netfilter",
		"github.com/confine-sandbox/confine/policy", "github.com/confine-sandbox/confine/sandbox/stage",
	} {
		if !slices.Contains(deps, pkg) {
			t.Errorf("the slim binary lacks %s", pkg)
		}
	}
}
