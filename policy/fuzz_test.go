package policy

import (
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
)

// FuzzLoad feeds arbitrary bytes through the whole pure pipeline: load, validate and,
// when valid, compile. It must never panic, and every error must carry a position.
func FuzzLoad(f *testing.F) {
	for _, dir := range []string{"../examples/shop", "../examples/bad", "../profiles"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		for _, file := range files {
			if data, err := os.ReadFile(file); err == nil {
				f.Add(data)
			}
		}
	}
	f.Add([]byte("version: 1\nname: a\ncomponents: [c.yaml]\nsubnet: 10.1.0.0/24\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fsys := fstest.MapFS{
			"p.yaml": {Data: data},
			"c.yaml": {Data: []byte("version: 1\nname: c\nrun: {command: [/bin/true]}\nfilesystem: {read: [/bin]}\nsyscalls: {extends: static}\n")},
		}
		errs := Check(fsys, "p.yaml")
		for _, e := range errs {
			if e.Pos.File == "" || e.Pos.Line == 0 {
				t.Fatalf("error without a position: %v", e)
			}
		}
		if len(errs) > 0 {
			return
		}
		s, err := Open(fsys, "p.yaml")
		if err != nil {
			t.Fatalf("Check passed but Open failed: %v", err)
		}
		if _, err := Compile(s); err != nil {
			t.Fatalf("Check passed but Compile failed: %v", err)
		}
	})
}
