//go:build !confine_slim

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/confine-sandbox/confine/export"
)

func newExport() *cobra.Command {
	var format, outDir string
	var asJSON, strict bool
	cmd := &cobra.Command{
		Use:   "export FILE|STACK --format k8s|oci|systemd [-o DIR]",
		Short: "Write the compiled policy as Kubernetes manifests, OCI bundles or systemd units",
		Long: `export writes the Plan of FILE (or of the running STACK) for another engine, deterministically:

  --format k8s      NAME.yaml: per component a Deployment, a Service per listened port and a
                    NetworkPolicy (plus the stack's default deny); seccomp/NAME.json, the
                    Localhost profiles, to copy into each node's <kubelet-root>/seccomp/
  --format oci      NAME/config.json per component, an OCI runtime bundle runc runs
  --format systemd  NAME.service per component

NAME is STACK-COMPONENT. What the target cannot express (Landlock, the audit log, ...) is
a finding: written into the files as comments or annotations and listed on stderr, or in
the --json document. --strict exits 1 when there is any. Without -o, the files go to
stdout, each after a "# file: PATH" line.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, _, err := reportPlan(args[0])
			if err != nil {
				return err
			}
			base, err := os.Getwd()
			if err != nil {
				return err
			}
			res, err := export.Export(p, format, export.Options{BaseDir: base, FillImages: outDir != ""})
			if err != nil {
				return policyError(fmt.Errorf("confine: %w", err))
			}
			var written []string
			if outDir != "" {
				fill := &rootfsFiller{hostID: export.DefaultHostID}
				if written, err = writeExport(outDir, res.Files, fill); err != nil {
					return &codeError{code: exitPolicy, msg: "confine: export: " + err.Error()}
				}
			} else if err := printExport(cmd.OutOrStdout(), res.Files, asJSON); err != nil {
				return err
			}
			if asJSON {
				doc := struct {
					Format   string           `json:"format"`
					Files    []string         `json:"files"`
					Findings []export.Finding `json:"findings"`
				}{res.Format, orEmpty(written), res.Findings}
				data, _ := json.MarshalIndent(doc, "", "  ")
				fmt.Fprintf(cmd.OutOrStdout(), "%s\n", data)
			} else {
				for _, f := range res.Findings {
					fmt.Fprintln(cmd.ErrOrStderr(), "finding:", f)
				}
			}
			if strict && len(res.Findings) > 0 {
				return &codeError{code: exitPolicy, msg: fmt.Sprintf("confine: export: %d findings under --strict", len(res.Findings))}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "", "k8s, oci or systemd (required)")
	cmd.Flags().StringVarP(&outDir, "output", "o", "", "directory to write the files into")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON document of the files written and the findings")
	cmd.Flags().BoolVar(&strict, "strict", false, "exit 1 when the target cannot express something")
	return cmd
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// printExport writes the files to w, each after a "# file:" line; with asJSON nothing is
// printed but the document (the files are then not written anywhere: say so).
func printExport(w io.Writer, files []export.File, asJSON bool) error {
	if asJSON {
		return nil
	}
	for _, f := range files {
		if f.Dir {
			fmt.Fprintf(w, "# file: %s/ (an empty directory)\n", f.Path)
			continue
		}
		if _, err := fmt.Fprintf(w, "# file: %s\n%s", f.Path, f.Data); err != nil {
			return err
		}
	}
	return nil
}

// writeExport writes files under dir, refusing to follow a symlink or leave dir; fill
// flattens the image of a directory that names one.
func writeExport(dir string, files []export.File, fill *rootfsFiller) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	var written []string
	for _, f := range files {
		rel := filepath.FromSlash(f.Path)
		if err := mkdirAllIn(root, filepath.Dir(rel)); err != nil {
			return written, err
		}
		if f.Dir && f.Image != nil {
			if err := fill.fill(root, rel, f.Image); err != nil {
				return written, err
			}
		} else if f.Dir {
			if err := mkdirAllIn(root, rel); err != nil {
				return written, err
			}
		} else if err := root.WriteFile(rel, f.Data, 0o644); err != nil {
			return written, err
		}
		if f.Chown {
			if err := root.Lchown(rel, int(f.UID), int(f.GID)); err != nil {
				return written, err
			}
		}
		written = append(written, filepath.Join(dir, rel))
	}
	return written, nil
}

// mkdirAllIn makes rel's directories, refusing any that is not one, a symlink above all:
// a bind source under an image's rootfs must not lead out of it (runc follows it).
func mkdirAllIn(root *os.Root, rel string) error {
	if rel == "." || rel == "" {
		return nil
	}
	var cur string
	for _, part := range strings.Split(rel, string(filepath.Separator)) {
		cur = filepath.Join(cur, part)
		fi, err := root.Lstat(cur)
		if errors.Is(err, os.ErrNotExist) {
			err = root.Mkdir(cur, 0o755)
		} else if err == nil && !fi.IsDir() {
			err = fmt.Errorf("%s: expected a directory, found a %s", cur, fi.Mode().Type())
		}
		if err != nil {
			return err
		}
	}
	return nil
}
