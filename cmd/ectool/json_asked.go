package main

import (
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// jsonAsked reports whether args ask for -o json anywhere before "--",
// reading them as pflag would (-o json, -ojson, -o=json, --output json,
// --output=json, -vo json; another flag's value is skipped, so
// `-m -o` is a message). A later bad value (-o json -o yaml) or a case
// slip (-o JSON) still counts: whoever wrote json parses stdout.
func jsonAsked(root *cobra.Command, args []string) bool {
	cmd, _, err := root.Find(args)
	if err != nil || cmd == nil {
		cmd = root
	}
	inherited := cmd.InheritedFlags() // also merges them into cmd.Flags()
	output := root.PersistentFlags().Lookup("output")
	long := func(name string) *pflag.Flag {
		if f := cmd.Flags().Lookup(name); f != nil {
			return f
		}
		return inherited.Lookup(name)
	}
	short := func(c string) *pflag.Flag {
		if f := cmd.Flags().ShorthandLookup(c); f != nil {
			return f
		}
		return inherited.ShorthandLookup(c)
	}
	asked := false
	value := func(v string) {
		if strings.EqualFold(strings.TrimSpace(v), "json") {
			asked = true
		}
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return asked
		case strings.HasPrefix(a, "--"):
			name, v, hasValue := strings.Cut(a[2:], "=")
			f := long(name)
			if f == nil || hasValue || f.NoOptDefVal != "" {
				if f == output {
					value(v)
				}
				continue
			}
			if i+1 < len(args) { // the flag's value is the next argument
				i++
				if f == output {
					value(args[i])
				}
			}
		case strings.HasPrefix(a, "-") && len(a) > 1:
			// A cluster of shorthands: bool ones, then at most one that
			// takes the rest of the argument (or the next) as its value.
			for j := 1; j < len(a); j++ {
				f := short(a[j : j+1])
				if f == nil {
					break
				}
				if f.NoOptDefVal != "" {
					continue
				}
				v := strings.TrimPrefix(a[j+1:], "=")
				if j == len(a)-1 && i+1 < len(args) {
					i++
					v = args[i]
				}
				if f == output {
					value(v)
				}
				break
			}
		}
	}
	return asked
}
