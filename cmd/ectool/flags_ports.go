package main

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// portList is a comma-separated list of ports (--ports 1883,8883): the
// ports `capture` keeps and `capture inspect` decodes.
type portList struct{ ports *[]uint16 }

func (p portList) String() string {
	if p.ports == nil {
		return ""
	}
	s := make([]string, len(*p.ports))
	for i, v := range *p.ports {
		s[i] = strconv.Itoa(int(v))
	}
	return strings.Join(s, ",")
}

func (p portList) Set(v string) error {
	ports, err := parsePorts(v)
	if err != nil {
		return err
	}
	*p.ports = ports
	return nil
}

func (p portList) Type() string { return "ports" }

// parsePorts reads "1883,8883" (spaces allowed, duplicates dropped).
func parsePorts(v string) ([]uint16, error) {
	seen := map[uint16]bool{}
	var out []uint16
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("%q is not a TCP port (1-65535)", f)
		}
		if !seen[uint16(n)] {
			seen[uint16(n)] = true
			out = append(out, uint16(n))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no port given")
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

// addPortsFlag adds --ports with a default list and the command's meaning
// (the value is the same everywhere: a port list).
func addPortsFlag(cmd *cobra.Command, ports *[]uint16, def []uint16, meaning string) {
	*ports = append([]uint16(nil), def...)
	addGroup(cmd, "ports", func(fs *pflag.FlagSet) {
		fs.Var(portList{ports}, "ports", meaning)
	}, perCommandUsage, perCommandDefault)
}
