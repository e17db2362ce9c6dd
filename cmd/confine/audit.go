//go:build !confine_slim

package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/confine-sandbox/confine/audit"
)

// newAuditCmd is the parent of the audit subcommands; each adds itself here.
func newAuditCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Verify the audit log, report on a stack's privileges and denials, diff two policies",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newAuditVerifyCmd(), newAuditReportCmd(), newAuditDiffCmd())
	return cmd
}

func newAuditVerifyCmd() *cobra.Command {
	var head string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "verify LOG",
		Short: "Check the audit log's hash chain, through its rotated files",
		Long: `verify reads LOG and its rotated predecessors (LOG.N … LOG.1, oldest first) and checks
that every line is a record, that seq rises by one, and that each record's prev is the
SHA-256 of the line before it. It names the first record where the chain breaks
(FILE:LINE, seq and why) and exits 1.

A chain cannot show that its newest records were removed, or that the whole log was
rewritten: the output says whether the log ends with audit.close, and --head checks that
a head hash printed by an earlier verify, and kept elsewhere, is still in the chain.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			files := audit.LogFiles(args[0])
			if len(files) == 0 {
				return policyError(fmt.Errorf("confine: audit verify: %s: no such log", args[0]))
			}
			res, err := audit.VerifyOptions{Head: head}.Verify(files...)
			var ce *audit.ChainError
			if err != nil && !errors.As(err, &ce) {
				return policyError(fmt.Errorf("confine: audit verify: %w", err))
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(res); err != nil {
					return err
				}
			} else {
				printVerify(cmd, res, head)
			}
			if ce != nil {
				msg := ""
				if !asJSON {
					msg = "confine: audit verify: " + ce.Error()
				}
				return &codeError{code: exitPolicy, msg: msg}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&head, "head", "", "a head hash from an earlier verify, which must still be in the chain")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

// printVerify prints the verdict line of a valid log and the notes of any.
func printVerify(cmd *cobra.Command, res audit.VerifyResult, head string) {
	out := cmd.OutOrStdout()
	if res.Bad == nil {
		state := "open"
		if res.Closed {
			state = "closed"
		}
		fmt.Fprintf(out, "ok: %d records, seq %d..%d, head %s, %s\n", res.Records, res.FirstSeq, res.LastSeq, res.Head, state)
		if head != "" {
			fmt.Fprintf(out, "anchor %s: in the chain\n", head)
		}
	}
	for _, n := range res.Notes {
		fmt.Fprintf(cmd.ErrOrStderr(), "note: %s\n", n)
	}
}
