package main

import "github.com/spf13/cobra"

// TEMPORARY (issue 10's branch only): a minimal `capture` group so
// `capture inspect` can be built and tested before issue 9's capture.go
// lands. The coordinator drops this file at the merge and registers
// NewCmdCaptureInspect in the real group.

func init() { registerGroup(newCmdCaptureGroupTmp) }

func newCmdCaptureGroupTmp(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "capture",
		Short: "Record MQTT traffic and explain captures",
	}
	cmd.AddCommand(NewCmdCaptureInspect(app))
	return cmd
}
