//go:build !confine_slim

package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func newVolumeCmd() *cobra.Command {
	c := &cobra.Command{Use: "volume", Short: "List, inspect and remove volumes (filesystem.write {path, volume})"}
	var asJSON bool
	ls := &cobra.Command{
		Use:   "ls",
		Short: "List the store's volumes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := openStore()
			if err != nil {
				return err
			}
			vs, err := s.Volumes()
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(vs)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tOWNER\tIN USE\tCREATED")
			for _, v := range vs {
				fmt.Fprintf(w, "%s\t%d:%d\t%v\t%s\n", v.Name, v.UID, v.GID, v.InUse, v.Created.Format("2006-01-02 15:04:05"))
			}
			return w.Flush()
		},
	}
	ls.Flags().BoolVar(&asJSON, "json", false, "a JSON array of {name, dir, created, uid, gid, in_use}")
	inspect := &cobra.Command{
		Use:   "inspect NAME",
		Short: "A volume as JSON",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openStore()
			if err != nil {
				return err
			}
			v, err := s.Volume(args[0])
			if err != nil {
				return err
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(v)
		},
	}
	rm := &cobra.Command{
		Use:   "rm NAME",
		Short: "Remove a volume and its data; refused while a component uses it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openStore()
			if err != nil {
				return err
			}
			if err := s.RemoveVolume(args[0]); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), args[0])
			return nil
		},
	}
	c.AddCommand(ls, inspect, rm)
	return c
}
