//go:build linux

package netpath

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// routeThrough finds the most specific route through the interface with
// index ifindex that covers dst, in any routing table (netlink). A socket
// bound to an interface ignores routes through the others, and when none
// through it covers dst the kernel assumes dst is on the link: on an
// Ethernet-like link that means ARP for a host that is not there.
func routeThrough(ifindex int, dst netip.Addr) (string, bool, error) {
	family := unix.AF_INET
	if dst.Is6() && !dst.Is4In6() {
		family = unix.AF_INET6
	}
	rib, err := syscall.NetlinkRIB(unix.RTM_GETROUTE, family)
	if err != nil {
		return "", false, fmt.Errorf("reading the routing table: %w", err)
	}
	msgs, err := syscall.ParseNetlinkMessage(rib)
	if err != nil {
		return "", false, fmt.Errorf("reading the routing table: %w", err)
	}
	best, bestLen := "", -1
	for _, m := range msgs {
		if m.Header.Type != unix.RTM_NEWROUTE || len(m.Data) < unix.SizeofRtMsg {
			continue
		}
		// struct rtmsg: family, dst_len, src_len, tos, table, protocol,
		// scope, type (one byte each), flags.
		dstLen, rtTable, rtType := int(m.Data[1]), int(m.Data[4]), m.Data[7]
		if rtType != unix.RTN_UNICAST && rtType != unix.RTN_LOCAL {
			continue
		}
		attrs, err := syscall.ParseNetlinkRouteAttr(&m)
		if err != nil {
			continue
		}
		var oif int
		var gw, dstIP net.IP
		table := rtTable
		for _, a := range attrs {
			switch a.Attr.Type {
			case unix.RTA_OIF:
				if len(a.Value) >= 4 {
					oif = int(binary.NativeEndian.Uint32(a.Value))
				}
			case unix.RTA_GATEWAY:
				gw = net.IP(a.Value)
			case unix.RTA_DST:
				dstIP = net.IP(a.Value)
			case unix.RTA_TABLE:
				if len(a.Value) >= 4 {
					table = int(binary.NativeEndian.Uint32(a.Value))
				}
			}
		}
		if oif != ifindex {
			continue
		}
		plen := dstLen
		prefix := "default"
		if plen > 0 {
			addr, ok := netip.AddrFromSlice(dstIP)
			if !ok {
				continue
			}
			p := netip.PrefixFrom(addr.Unmap(), plen)
			if !p.Contains(dst.Unmap()) {
				continue
			}
			prefix = p.String()
		}
		if plen <= bestLen {
			continue
		}
		desc := prefix
		if gw != nil {
			desc += " via " + gw.String()
		} else if rtType == unix.RTN_LOCAL {
			desc += " (a local address)"
		} else {
			desc += " (on the link)"
		}
		if table != unix.RT_TABLE_MAIN {
			desc += fmt.Sprintf(" (table %s)", tableName(table))
		}
		best, bestLen = desc, plen
	}
	return best, bestLen >= 0, nil
}

func tableName(t int) string {
	switch t {
	case unix.RT_TABLE_LOCAL:
		return "local"
	case unix.RT_TABLE_DEFAULT:
		return "default"
	}
	return fmt.Sprint(t)
}
