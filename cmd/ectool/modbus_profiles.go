package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ecdata/ectool/probe/modbus"
)

// NewCmdModbusProfiles builds `ectool modbus profiles`.
func NewCmdModbusProfiles(app *App) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "profiles [NAME]",
		Short: "List the meter profiles --meter takes, or one profile's quantities",
		Long: `Profiles lists the meter profiles built into ectool: the meters it reads by name
(--meter), their maker's manual and whether anyone checked the profile against a
real meter. With a NAME it lists that meter's quantities: register in both forms,
type, byte order, scale, unit and plausible range.

A profile is a YAML file under probe/modbus/profiles; adding a meter is adding a
file. -o json prints the profiles themselves.`,
		Example: `  ectool modbus profiles
  ectool modbus profiles sdm630
  ectool modbus profiles -o json | jq '.profiles[].name'`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				name = args[0]
			}
			return modbusProfilesRun(app, name)
		},
	}
	return cmd
}

func modbusProfilesRun(app *App, name string) error {
	ps, err := modbus.Profiles()
	if err != nil {
		return cannotRun("a built-in profile is broken; report it", "%v", err)
	}
	if name != "" {
		p, err := modbus.ProfileByName(name)
		if err != nil {
			return usageError("%v", err)
		}
		ps = []*modbus.Profile{p}
	}
	if app.JSON() {
		return app.printJSON(map[string]any{"profiles": ps})
	}
	tw := tabwriter.NewWriter(app.IO.Out, 0, 0, 2, ' ', 0)
	defer tw.Flush()
	if name == "" {
		fmt.Fprintln(tw, "NAME\tMETER\tQUANTITIES\tVERIFIED\tSOURCE")
		for _, p := range ps {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%v\t%s, %s\n", p.Name, p.Title, len(p.Quantities), *p.Verified, p.Source.Title, p.Source.Version)
		}
		return nil
	}
	p := ps[0]
	fmt.Fprintf(tw, "%s: %s\nsource: %s, %s, %s (verified: %v)\n\n", p.Name, p.Title, p.Source.Title, p.Source.Version, p.Source.Section, *p.Verified)
	fmt.Fprintln(tw, "QUANTITY\tNAME\tREGISTER\tTYPE\tORDER\tSCALE\tUNIT\tRANGE")
	for _, q := range p.Quantities {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%g\t%s\t%g to %g\n", q.ID, q.Name, registerWords(q.Reg()), q.Type, q.Order, q.Scale, q.Unit, q.Range[0], q.Range[1])
	}
	if p.Serial != nil {
		fmt.Fprintf(tw, "serial\tSerial number\t%s\t%s\t%s\t\t\t\n", registerWords(p.Serial.Reg()), p.Serial.Type, p.Serial.Order)
	}
	return nil
}
