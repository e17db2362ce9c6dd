package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/confine-sandbox/confine/internal/trace"
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

// sweepsLater marks a command that sweeps the uplinks itself, later than the root's
// PersistentPreRun does (run: after its start's program is sent, or before its own uplink).
const sweepsLater = "confine.uplinks-swept-later"

// sweepUplinksTraced is sweepUplinks, timed.
func sweepUplinksTraced(cmd *cobra.Command) {
	t := trace.Now()
	sweepUplinks(cmd)
	trace.Done("parent", "sweep_uplinks", t)
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
