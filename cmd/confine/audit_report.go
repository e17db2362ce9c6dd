//go:build !confine_slim

package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/confine-sandbox/confine/audit"
	"github.com/confine-sandbox/confine/audit/report"
	"github.com/confine-sandbox/confine/policy"
	"github.com/confine-sandbox/confine/policy/plan"
	"github.com/confine-sandbox/confine/supervisor"
)

// newAuditReportCmd is `confine audit report`; the `audit` parent command adds it.
func newAuditReportCmd() *cobra.Command {
	var format, logFile, out string
	cmd := &cobra.Command{
		Use:   "report FILE|STACK",
		Short: "Write a reviewer's report: privileges, exposure score, findings, communication, denials",
		Long: `report compiles FILE (a component policy or a stack) and writes what a reviewer signs off on:
per component its declared interfaces, effective privileges, an exposure score from 0
(minimal) to 10 with the factors behind it, and findings ranked critical to info, each
naming the declaration responsible; the stack's communication matrix as a table and a
diagram; and, with --log, the denials the audit log recorded, grouped, and each
component's starts, exits and restarts. Lost records in the log are shown first.

  --format md    Markdown for a review comment (a mermaid diagram)
  --format html  one self-contained HTML file (inline CSS and SVG, no script)
  --format json  the Report as JSON; its fields are documented in docs/audit-report.md

The report's time is now, or SOURCE_DATE_EPOCH (seconds) when set, so that a build can
reproduce it byte for byte.

STACK, the name of a running stack, reports on the Plan it runs under and, unless --log
says otherwise, on its audit log.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "md" && format != "html" && format != "json" {
				return policyError(fmt.Errorf("confine: --format: expected md, html or json, found %q", format))
			}
			generated, err := reportTime()
			if err != nil {
				return policyError(err)
			}
			p, savedLog, err := reportPlan(args[0])
			if err != nil {
				return err
			}
			if logFile == "" {
				logFile = savedLog
			}
			baseline, err := policy.BaselineSyscalls()
			if err != nil {
				return fmt.Errorf("the default profile: %w", err)
			}
			in := report.ReportInput{Plan: p, Baseline: baseline, Generated: generated}
			if logFile != "" {
				if in.Records, err = audit.ReadLog(logFile); err != nil {
					return policyError(fmt.Errorf("confine: --log: %w", err))
				}
				if in.Records == nil {
					in.Records = []audit.Record{} // an empty log is still a log
				}
				in.LogName = logFile
			}
			r := report.BuildReport(in)
			var buf bytes.Buffer
			switch format {
			case "md":
				err = r.WriteMarkdown(&buf)
			case "html":
				err = r.WriteHTML(&buf)
			case "json":
				err = r.WriteJSON(&buf)
			}
			if err != nil {
				return err
			}
			if out == "" || out == "-" {
				_, err = cmd.OutOrStdout().Write(buf.Bytes())
				return err
			}
			if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
				return policyError(fmt.Errorf("confine: -o: %w", err))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "md", "md, html or json")
	cmd.Flags().StringVar(&logFile, "log", "", "the audit log (JSON Lines) whose denials and lifecycle to include")
	cmd.Flags().StringVarP(&out, "output", "o", "", "write the report to this file instead of stdout")
	return cmd
}

// reportTime is now, or SOURCE_DATE_EPOCH when set (reproducible-builds.org's convention).
func reportTime() (time.Time, error) {
	v := os.Getenv("SOURCE_DATE_EPOCH")
	if v == "" {
		return time.Now().UTC(), nil
	}
	sec, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("confine: SOURCE_DATE_EPOCH: expected seconds since 1970, found %q", v)
	}
	return time.Unix(sec, 0).UTC(), nil
}

// reportPlan compiles a policy file, or reads a running stack's Plan and audit log path.
func reportPlan(arg string) (*plan.Plan, string, error) {
	if _, err := os.Stat(arg); err != nil && supervisor.ValidName(arg) {
		if _, alive := supervisor.Running(arg); alive {
			return supervisor.SavedState(arg)
		}
	}
	p, err := compilePolicy(arg)
	return p, "", err
}
