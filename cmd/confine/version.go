//go:build !confine_slim

package main

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/confine-sandbox/confine/policy/plan"
)

func newVersion() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print confine's version, the Plan format version and the Go toolchain",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintf(cmd.OutOrStdout(), "confine %s (plan format %d, %s, %s/%s)\n", version, plan.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		},
	}
}
