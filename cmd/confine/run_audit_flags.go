package main

import "github.com/spf13/cobra"

// runAuditFlags are run's --audit-log and --show-denials, which both binaries parse
// (the slim one hands a run that sets them to the full one: slim.go).
type runAuditFlags struct {
	logPath string
	show    bool
}

func (r *runAuditFlags) flags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&r.logPath, "audit-log", "", "append the run's events and denials to this hash-chained audit log (as `confine up --audit-log`)")
	cmd.Flags().BoolVar(&r.show, "show-denials", false, "print each denial with its reason on stderr as it happens")
}

func (r *runAuditFlags) enabled() bool { return r.logPath != "" || r.show }
