//go:build !confine_slim

package main

import (
	"github.com/spf13/cobra"

	"github.com/confine-sandbox/confine/explain"
)

func newExplain() *cobra.Command {
	return &cobra.Command{
		Use:   "explain FILE",
		Short: "Tell a reviewer in plain words what a component or stack may do",
		Long: `explain compiles FILE and describes the result: what runs and as whom, which paths
exist and which are writable, which flows the network lets through, which syscalls and
capabilities remain, the limits, and what the kernel must provide.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := compilePolicy(args[0])
			if err != nil {
				return err
			}
			explain.Write(cmd.OutOrStdout(), p)
			return nil
		},
	}
}
