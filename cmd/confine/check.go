//go:build !confine_slim

package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/confine-sandbox/confine/policy"
)

func newCheck() *cobra.Command {
	return &cobra.Command{
		Use:   "check FILE...",
		Short: "Validate policies and stacks; print every error with file:line:column",
		Long: `check loads each FILE (a component policy, or a stack naming component files), merges
its profiles and validates it. Every error is printed as FILE:LINE:COL: FIELD: MESSAGE.
The exit status is 1 if any file has an error.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var errs policy.ErrorList
			for _, file := range args {
				fsys, done := policyFS(file)
				errs = append(errs, policy.Check(fsys, file)...)
				done()
			}
			if len(errs) > 0 {
				return policyError(errs)
			}
			for _, file := range args {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: ok\n", file)
			}
			return nil
		},
	}
}
