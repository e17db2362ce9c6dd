//go:build !confine_slim

package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/confine-sandbox/confine/image"
)

func newPull() *cobra.Command {
	var quiet bool
	c := &cobra.Command{
		Use:   "pull REF",
		Short: "Pull an image into the store: NAME[:TAG][@sha256:…], oci:PATH[:TAG] or docker-archive:PATH",
		Long: `pull fetches an image from a registry (credentials from the Docker config; TLS, except to a
loopback registry), an OCI layout or a docker-save archive, verifies every digest while
streaming, unpacks each layer once, and records the name. With a tag and a digest, the
digest wins. See docs/images.md.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openStore()
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			p := newProgress(cmd.ErrOrStderr(), quiet)
			rec, err := s.Pull(ctx, args[0], p)
			p.wait()
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", rec.Name, rec.Digest)
			return nil
		},
	}
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress and no notes; print only the result")
	return c
}

func newLoad() *cobra.Command {
	var quiet bool
	c := &cobra.Command{
		Use:   "load FILE",
		Short: "Load images from a docker save tarball, an OCI tarball or an OCI layout directory",
		Long: `load brings every image of FILE into the store, named by the archive's RepoTags or the
index's org.opencontainers.image.ref.name (or io.containerd.image.name) annotation; an image
without a full name is recorded by digest alone.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openStore()
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			p := newProgress(cmd.ErrOrStderr(), quiet)
			recs, err := s.Load(ctx, args[0], p)
			p.wait()
			for _, r := range recs {
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", orNone(r.Name), r.Digest)
			}
			return err
		},
	}
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress and no notes; print only the result")
	return c
}

var _ image.Progress = (*lineProgress)(nil)
