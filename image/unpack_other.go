//go:build !linux

package image

import (
	"errors"
	"io"
)

// ErrUnsupported: the store unpacks layers with openat2 and overlayfs's whiteouts, Linux only.
var ErrUnsupported = errors.New("the image store needs Linux")

func unpack(io.Reader, string, string, Limits) (LayerInfo, error) { return LayerInfo{}, ErrUnsupported }

func (s *Store) lock() (func(), error)            { return nil, ErrUnsupported }
func (s *Store) workDir() (string, func(), error) { return "", nil, ErrUnsupported }
func inUse(string) bool                           { return true }
