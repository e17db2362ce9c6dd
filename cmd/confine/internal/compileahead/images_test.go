package compileahead

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/confine-sandbox/confine/cmd/confine/internal/plancache"
	"github.com/confine-sandbox/confine/policy"
)

// storeOf is the store tests give the compile ahead: open(dir) is what SetImages would
// get; "" for none (the slim binary's). It is set before a start and read by its compile.
func storeOf(t *testing.T, open func(dir string) policy.ImageResolver) {
	t.Helper()
	SetImages(nil) // closes storeSet, as package main's init does
	storeOpen = open
	t.Cleanup(func() { storeOpen = nil })
}

// fakeStore counts what the compile ahead asked and answers from facts (nil: not in
// the store).
type fakeStore struct {
	dirs, refs []string
	facts      *policy.ImageFacts
}

func (f *fakeStore) open(dir string) policy.ImageResolver {
	f.dirs = append(f.dirs, dir)
	return f
}

func (f *fakeStore) ResolveImage(ref string) (*policy.ImageFacts, error) {
	f.refs = append(f.refs, ref)
	if f.facts == nil {
		return nil, os.ErrNotExist
	}
	return f.facts, nil
}

const imagePolicy = "version: 1\nname: img\nrun: {image: \"alpine:3\"}\nsyscalls: {extends: default}\n"

func imageFacts() *policy.ImageFacts {
	return &policy.ImageFacts{Digest: "sha256:" + strings.Repeat("a", 64), ConfigDigest: "sha256:" + strings.Repeat("b", 64),
		DiffIDs: []string{"sha256:" + strings.Repeat("c", 64)}, Cmd: []string{"/bin/sh"}}
}

// TestAheadImage: a policy with run.image is compiled ahead against the store the
// command line names, and its Plan pins the image the store gave, as run's own compile
// would; such a Plan is never kept (the store's content is no part of its key).
func TestAheadImage(t *testing.T) {
	cache := filepath.Join(t.TempDir(), "plans")
	t.Setenv(plancache.EnvDir, cache)
	f := &fakeStore{facts: imageFacts()}
	storeOf(t, f.open)
	file := write(t, "img.yaml", imagePolicy)
	for _, args := range [][]string{{"confine", "run", file}, {"confine", "--store", "/the/store", "run", file}} {
		f.dirs, f.refs = nil, nil
		start(args)
		p, ok := Take(file)
		if !ok {
			t.Fatalf("%q: no Plan compiled ahead", args)
		}
		want, err := Compile(file, &fakeStore{facts: f.facts}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Components[0].Image; got == nil || got.Digest != f.facts.Digest || got.ConfigDigest != f.facts.ConfigDigest {
			t.Errorf("%q: the Plan ahead pins %+v, want the store's image", args, got)
		} else if got.Digest != want.Components[0].Image.Digest || len(p.Components[0].Mounts) != len(want.Components[0].Mounts) {
			t.Errorf("%q: the Plan ahead differs from run's compile", args)
		}
		wantDir := ""
		if len(args) == 5 {
			wantDir = args[2]
		}
		if len(f.dirs) != 1 || f.dirs[0] != wantDir || len(f.refs) != 1 {
			t.Errorf("%q: opened the stores %q for %q; want %q once", args, f.dirs, f.refs, wantDir)
		}
	}
	if kept, _ := filepath.Glob(filepath.Join(cache, "*")); len(kept) != 0 {
		t.Errorf("a Plan that asked the image store was kept: %v", kept)
	}
}

// TestAheadImageFallsBack: an image the store lacks, no store at all (the slim binary's
// nil, or none on disk), or a --store the guess cannot place leaves no Plan ahead: run
// compiles the file itself, with its resolver, which pulls.
func TestAheadImageFallsBack(t *testing.T) {
	t.Setenv(plancache.EnvDir, "off")
	file := write(t, "img.yaml", imagePolicy)
	absent := &fakeStore{}
	for name, c := range map[string]struct {
		open func(string) policy.ImageResolver
		args []string
	}{
		"absent":  {absent.open, []string{"confine", "run", file}},
		"nil":     {nil, []string{"confine", "run", file}},
		"nostore": {func(string) policy.ImageResolver { return nil }, []string{"confine", "run", file}},
		"unsure":  {(&fakeStore{facts: imageFacts()}).open, []string{"confine", "run", file, "--store", "/s"}},
	} {
		storeOf(t, c.open)
		start(c.args)
		if p, ok := Take(file); ok {
			t.Errorf("%s: a Plan ahead: %+v", name, p.Components[0].Image)
		}
	}
	if len(absent.refs) != 1 || absent.refs[0] != "alpine:3" {
		t.Errorf("the store was asked for %q, want alpine:3 once", absent.refs)
	}
}
