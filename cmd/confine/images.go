//go:build !confine_slim

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/confine-sandbox/confine/image"
)

func openStore() (*image.Store, error) {
	dir := storeFlag
	if dir == "" {
		dir = os.Getenv("CONFINE_STORE")
	}
	if dir == "" {
		dir = image.DefaultDir()
	}
	return image.Open(dir)
}

func newImages() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "images",
		Short: "List the images in the store",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := openStore()
			if err != nil {
				return err
			}
			recs, err := s.List()
			if err != nil {
				return err
			}
			if asJSON {
				if recs == nil {
					recs = []image.Record{}
				}
				return writeJSON(cmd, recs)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tDIGEST\tCREATED\tSIZE")
			for _, r := range recs {
				n := r.Name
				if n == "" {
					n = "<none>"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", n, shortDigest(r.Digest), created(r.Created), humanBytes(r.Size))
			}
			return w.Flush()
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print a JSON array of {name, digest, config_digest, size, created, layers, pulled}")
	return c
}

func newImageCmd() *cobra.Command {
	c := &cobra.Command{Use: "image", Short: "Inspect, remove and prune stored images"}
	c.AddCommand(&cobra.Command{
		Use:   "inspect REF",
		Short: "Print a stored image as JSON: digests, config, layers and what unpacking dropped",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openStore()
			if err != nil {
				return err
			}
			v, err := inspect(s, args[0])
			if err != nil {
				return err
			}
			return writeJSON(cmd, v)
		},
	}, &cobra.Command{
		Use:   "rm REF",
		Short: "Remove an image name (or every name of sha256:DIGEST) and the content nothing else uses",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := openStore()
			if err != nil {
				return err
			}
			gone, rep, err := s.Remove(args[0])
			for _, r := range gone {
				fmt.Fprintf(cmd.OutOrStdout(), "removed %s %s\n", orNone(r.Name), r.Digest)
			}
			if err == nil {
				fmt.Fprintf(cmd.OutOrStdout(), "freed %d layers, %d blobs\n", rep.Layers, rep.Blobs)
			}
			return err
		},
	}, &cobra.Command{
		Use:   "prune",
		Short: "Remove the layers and blobs no image or run uses, and what interrupted pulls left",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := openStore()
			if err != nil {
				return err
			}
			rep, err := s.Prune()
			if err == nil {
				fmt.Fprintf(cmd.OutOrStdout(), "freed %d layers, %d blobs, %d leftovers of interrupted pulls\n", rep.Layers, rep.Blobs, rep.Work)
			}
			return err
		},
	})
	return c
}

// inspection is `image inspect`'s output.
type inspection struct {
	Names        []string        `json:"names"`
	Digest       string          `json:"digest"`
	ConfigDigest string          `json:"config_digest"`
	Size         int64           `json:"size"`
	Created      time.Time       `json:"created"`
	Layers       []layerView     `json:"layers"`
	Config       json.RawMessage `json:"config"`
}

type layerView struct {
	Digest string   `json:"digest"`
	DiffID string   `json:"diff_id"`
	Size   int64    `json:"size"`
	Dir    string   `json:"dir"`
	Notes  []string `json:"notes,omitempty"`
}

func inspect(s *image.Store, ref string) (inspection, error) {
	recs, err := s.Lookup(ref)
	if err != nil {
		return inspection{}, err
	}
	img, err := s.ImageByDigest(recs[0].Digest)
	if err != nil {
		return inspection{}, err
	}
	v := inspection{Digest: recs[0].Digest, ConfigDigest: img.ConfigDigest.String(), Size: recs[0].Size, Created: recs[0].Created}
	for _, r := range recs {
		v.Names = append(v.Names, r.Name)
	}
	if v.Config, err = json.Marshal(img.Config); err != nil {
		return inspection{}, err
	}
	for i, l := range img.Layers {
		v.Layers = append(v.Layers, layerView{Digest: img.Manifest.Layers[i].Digest.String(), DiffID: l.DiffID,
			Size: l.Size, Dir: img.LayerDirs[i], Notes: l.Notes})
	}
	return v, nil
}

func writeJSON(cmd *cobra.Command, v any) error {
	enc := json.NewEncoder(cmd.OutOrStdout())
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func orNone(n string) string {
	if n == "" {
		return "<none>"
	}
	return n
}

func shortDigest(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}

func created(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04")
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
