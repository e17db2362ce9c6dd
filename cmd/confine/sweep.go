package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/confine-sandbox/confine/netfilter"
	"github.com/confine-sandbox/confine/sandbox"
)

// sweepKernelAudit puts the kernel's audit back if confine processes that died were its
// last holders (sandbox.SweepKernelAudit); a failure is only warned of.
func sweepKernelAudit(cmd *cobra.Command) {
	if os.Geteuid() != 0 {
		return
	}
	if err := sandbox.SweepKernelAudit(); err != nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "confine: warning: putting the kernel's audit settings back: %v\n", err)
	}

}

// sweepUplinks removes what killed supervisors' uplinks left in this host namespace
// (netfilter.SweepUplinks); a failure is only warned of.
func sweepUplinks(cmd *cobra.Command) {
	if os.Geteuid() != 0 {
		return
	}
	if err := netfilter.SweepUplinks(); err != nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "confine: warning: removing the uplinks of killed supervisors: %v\n", err)
	}
}
