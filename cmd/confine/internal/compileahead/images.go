package compileahead

import (
	"errors"
	"strings"
	"sync"

	"github.com/confine-sandbox/confine/cmd/confine/internal/plancache"
	"github.com/confine-sandbox/confine/policy"
)

// storeOpen is how a compile ahead opens the image store (SetImages), once storeSet is
// closed.
var (
	storeOnce sync.Once
	storeSet  = make(chan struct{})
	storeOpen func(dir string) policy.ImageResolver
)

// SetImages gives the compile ahead its image store: open(dir) is a resolver that only
// reads the store at dir ("": CONFINE_STORE, else the default), never pulling nor making
// a directory, or nil when there is none. Package main calls it from an init: a compile
// ahead of a policy with run.image waits for it there, when every package it calls into
// is initialised. The slim binary, which has no image store, gives nil. Only the first
// call counts.
func SetImages(open func(dir string) policy.ImageResolver) {
	storeOnce.Do(func() {
		storeOpen = open
		close(storeSet)
	})
}

var errNoImages = errors.New("no image store ahead of the command")

// aheadImages resolves run.image through the store SetImages opens for dir, opened on
// the first image.
type aheadImages struct {
	dir string
	r   policy.ImageResolver
}

func (a *aheadImages) ResolveImage(ref string) (*policy.ImageFacts, error) {
	if a.r == nil {
		<-storeSet
		if storeOpen != nil {
			a.r = storeOpen(a.dir)
		}
		if a.r == nil {
			return nil, errNoImages
		}
	}
	return a.r.ResolveImage(ref)
}

// StoreDir is the store's directory, once an image was resolved, as its resolver says.
func (a *aheadImages) StoreDir() string {
	if sd, ok := a.r.(StoreDir); ok {
		return sd.StoreDir()
	}
	return ""
}

// storeAt is the store a command line names for run: dir after a leading --store (flag),
// else "" (the default); unsure when a --store follows run, where this guess cannot
// tell which one cobra takes (an image is then left to run's own compile).
type storeAt struct {
	dir          string
	flag, unsure bool
}

// policyArg is FILE of a command line "confine [--store DIR] run FILE …", or "", and
// the store it names (plancache.PolicyArg, which takes the form without --store).
func policyArg(args []string) (string, storeAt) {
	var at storeAt
	if len(args) > 2 {
		if dir, ok := strings.CutPrefix(args[1], "--store="); ok && dir != "" {
			at = storeAt{dir: dir, flag: true}
			args = append(args[:1:1], args[2:]...)
		} else if args[1] == "--store" && len(args) > 3 && args[2] != "" && !strings.HasPrefix(args[2], "-") {
			at = storeAt{dir: args[2], flag: true}
			args = append(args[:1:1], args[3:]...)
		}
	}
	file := plancache.PolicyArg(args)
	if file == "" {
		return "", storeAt{}
	}
	for _, a := range args[3:] {
		if a == "--store" || strings.HasPrefix(a, "--store=") {
			at.unsure = true
		}
	}
	return file, at
}
