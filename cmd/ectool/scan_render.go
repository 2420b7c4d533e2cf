package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/ecdata/ectool/probe/modbus"
)

// writeDeviceTable prints one row per address found. Identities are never
// cut (a serial number is what tells twins apart), and a collision whose
// devices told different identities lists each other one on a row of its
// own.
func writeDeviceTable(w io.Writer, devs []modbus.Device) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "UNIT\tVERDICT\tREPLIES\tTIMEOUT\tCRC\tLATE\tEXC\tLATENCY p50\tIDENTITY")
	for _, d := range devs {
		lat := "-"
		if d.LatencyMS != nil {
			lat = fmt.Sprintf("%.1f ms", d.LatencyMS.P50)
		}
		ids := deviceIdentities(d)
		fmt.Fprintf(tw, "%d\t%s\t%d/%d\t%d\t%d\t%d\t%d\t%s\t%s\n", d.UnitID, d.Verdict, d.Responses, d.Polls,
			d.Errors.Timeout, d.Errors.CRC, d.Errors.Late, d.Errors.Exception, lat, ids[0])
		for _, more := range ids[1:] {
			fmt.Fprintf(tw, "\t\t\t\t\t\t\t\t%s\n", more)
		}
	}
	tw.Flush()
	fmt.Fprintln(w)
}

// deviceIdentities is what identified the device at an address: its
// identity first, then ("also ...") every other server id and id register
// value read there, which only devices sharing the address give. Which
// server id goes with which register value is not known, so each is
// listed on its own.
func deviceIdentities(d modbus.Device) []string {
	if d.Identity == nil {
		return []string{"-"}
	}
	out := []string{d.Identity.String()}
	name := modbus.Identity{Vendor: d.Identity.Vendor, Product: d.Identity.Product, Revision: d.Identity.Revision}.String()
	for _, h := range d.ServerIDs {
		if h == d.Identity.ServerID {
			continue
		}
		text := modbus.ServerIDText(h)
		rest, repeats := modbus.ServerIDBeyond(text, name)
		switch {
		case !repeats:
			rest = "server id " + text
		case rest == "":
			rest = "server id 0x" + h // the same text: the bytes differ elsewhere
		}
		out = append(out, "also "+rest)
	}
	for _, v := range d.IDRegisters {
		if v != d.Identity.IDRegister {
			out = append(out, "also id register "+modbus.IDRegisterText(v))
		}
	}
	return out
}
