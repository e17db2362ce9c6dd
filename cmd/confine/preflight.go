//go:build !confine_slim

package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/confine-sandbox/confine/host"
	"github.com/confine-sandbox/confine/sandbox"
)

func newPreflight() *cobra.Command {
	return &cobra.Command{
		Use:   "preflight FILE",
		Short: "Say whether this host's kernel can enforce everything FILE needs",
		Long: `preflight compiles FILE and compares what it needs (Landlock ABI, cgroup controllers,
nftables, user namespaces, seccomp actions) with what this kernel offers. A missing
mechanism the policy does not list under best_effort makes it exit 2, as run will.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := compilePolicy(args[0])
			if err != nil {
				return err
			}
			f := host.Probe()
			fmt.Fprintf(cmd.OutOrStdout(), "host: landlock ABI %d, cgroups %s %v, nftables %v, user namespaces %v\n",
				f.LandlockABI, or(f.CgroupMode, "none"), f.Controllers, f.Nftables, f.UserNamespaces)
			findings, err := sandbox.Preflight(p, f)
			for _, fd := range findings {
				fmt.Fprintf(cmd.OutOrStdout(), "finding: %s\n", fd)
			}
			if err != nil {
				return &codeError{code: exitEnforcement, msg: "confine: enforcement cannot be set up:\n" + err.Error()}
			}
			fmt.Fprintln(cmd.OutOrStdout(), "ok: every mechanism is available")
			return nil
		},
	}
}

func or(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}
