//go:build !confine_slim

package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/confine-sandbox/confine/netfilter"
)

func newCompile() *cobra.Command {
	var format, component string
	cmd := &cobra.Command{
		Use:   "compile FILE",
		Short: "Print the compiled Plan (json), a seccomp program (bpf) or a ruleset (nft)",
		Long: `compile turns FILE into a Plan, deterministically: the same files give the same bytes.

  --format json  the whole Plan
  --format bpf   the seccomp program (struct sock_filter[], native byte order)
  --format nft   an nftables script for 'nft -f': for a stack, the bridge's ruleset; for a
                 component (or --component NAME), the ruleset of its own network namespace`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := compilePolicy(args[0])
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			switch format {
			case "json":
				data, err := json.MarshalIndent(p, "", "  ")
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(out, "%s\n", data)
				return err
			case "bpf":
				c, err := pick(p, component, true)
				if err != nil {
					return err
				}
				_, err = out.Write(c.Seccomp.Program)
				return err
			case "nft":
				if !p.Single && component == "" {
					_, err = fmt.Fprint(out, netfilter.Render(p.Network.Firewall))
					return err
				}
				c, err := pick(p, component, false)
				if err != nil {
					return err
				}
				_, err = fmt.Fprint(out, netfilter.Render(c.Net.Firewall))
				return err
			}
			return policyError(fmt.Errorf("confine: --format: expected json, bpf or nft, found %q", format))
		},
	}
	cmd.Flags().StringVar(&format, "format", "json", "json, bpf or nft")
	cmd.Flags().StringVar(&component, "component", "", "which component of a stack (bpf, nft)")
	return cmd
}
