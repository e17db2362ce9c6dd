//go:build !confine_slim

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExportWritesFilesAndFindings(t *testing.T) {
	dir := t.TempDir()
	code, stdout, stderr := run("export", "../../examples/shop/stack.yaml", "--format", "k8s", "-o", dir, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var doc struct {
		Format   string
		Files    []string
		Findings []struct{ Target, Component, Mechanism, Message string }
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	want := []string{"seccomp/shop-api.json", "seccomp/shop-db.json", "seccomp/shop-frontend.json", "shop.yaml"}
	if len(doc.Files) != len(want) {
		t.Fatalf("files %v, want %v", doc.Files, want)
	}
	for i, w := range want {
		if doc.Files[i] != filepath.Join(dir, w) {
			t.Errorf("file %d: %s, want %s", i, doc.Files[i], w)
		}
		if _, err := os.Stat(filepath.Join(dir, w)); err != nil {
			t.Error(err)
		}
	}
	if doc.Format != "k8s" || len(doc.Findings) == 0 {
		t.Errorf("doc %+v", doc)
	}
	data, _ := os.ReadFile(filepath.Join(dir, "shop.yaml"))
	if !strings.Contains(string(data), "# finding: landlock:") || !strings.Contains(string(data), "localhostProfile: shop-api.json") {
		t.Errorf("shop.yaml lacks the findings or the profile reference:\n%s", data)
	}
}

func TestExportStrictAndStdout(t *testing.T) {
	code, stdout, stderr := run("export", "../../examples/shop/stack.yaml", "--format", "systemd")
	if code != 0 || !strings.Contains(stdout, "# file: shop-api.service\n") || !strings.Contains(stderr, "finding: systemd: api: seccomp_args:") {
		t.Fatalf("exit %d\nstdout %.300s\nstderr %.300s", code, stdout, stderr)
	}
	code, _, stderr = run("export", "../../examples/shop/stack.yaml", "--format", "oci", "--strict")
	if code != exitPolicy || !strings.Contains(stderr, "findings under --strict") {
		t.Fatalf("--strict: exit %d, %s", code, stderr)
	}
	code, _, stderr = run("export", "../../examples/shop/stack.yaml", "--format", "docker")
	if code != exitPolicy || !strings.Contains(stderr, `expected one of k8s, oci, systemd, found "docker"`) {
		t.Fatalf("bad format: exit %d, %s", code, stderr)
	}
	code, _, stderr = run("export", "../../examples/bad/ports.yaml", "--format", "k8s")
	if code != exitPolicy || !strings.Contains(stderr, "ports.yaml:") {
		t.Fatalf("bad policy: exit %d, %s", code, stderr)
	}
}
