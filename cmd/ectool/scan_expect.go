package main

import (
	"github.com/spf13/cobra"

	"github.com/ecdata/ectool/probe/modbus"
)

// addExpectFlag adds --expect, the same on scan and scan sniff: the plan a
// bus is held to (bus.expected).
func addExpectFlag(cmd *cobra.Command, v *string) {
	cmd.Flags().StringVar(v, "expect", "", "unit ids that should answer, lists and ranges (1-3,17,40): bus.expected fails naming each one that stays silent, and warns naming each other address that answers")
}

// parseExpect reads --expect (a usage error, exit 2, before any I/O). For
// scan, every expected address must be among --ids (ids); sniff passes nil.
func parseExpect(s string, ids []byte) ([]byte, error) {
	exp, err := modbus.ParseExpect(s, ids)
	if err != nil {
		return nil, usageError("--expect: %v", err)
	}
	return exp, nil
}
