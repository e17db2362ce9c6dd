//go:build !linux

package image

import (
	"errors"
	"io"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// ErrUnsupported: the store unpacks layers with openat2 and overlayfs's whiteouts, Linux only.
var ErrUnsupported = errors.New("the image store needs Linux")

func unpack(io.Reader, string, string, Limits) (LayerInfo, error) { return LayerInfo{}, ErrUnsupported }

func (s *Store) lock() (func(), error)            { return nil, ErrUnsupported }
func (s *Store) workDir() (string, func(), error) { return "", nil, ErrUnsupported }
func inUse(string) bool                           { return true }

func (s *Store) hold(v1.Hash) (*os.File, error) { return nil, ErrUnsupported }
func (s *Store) holds() ([]v1.Hash, func(func(v1.Hash) bool)) {
	return nil, func(func(v1.Hash) bool) {}
}
