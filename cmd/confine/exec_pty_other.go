//go:build !linux && !confine_slim

package main

import (
	"errors"

	"github.com/confine-sandbox/confine/supervisor"
)

func execTTY(*supervisor.Client, string, supervisor.ExecRequest) (supervisor.ExecResult, error) {
	return supervisor.ExecResult{}, errors.New("confine exec --tty needs Linux")
}
