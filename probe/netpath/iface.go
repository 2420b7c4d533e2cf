package netpath

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/ecdata/ectool/diag/report"
)

// ifaceEvidence describes an interface: state, addresses, MTU.
func ifaceEvidence(ifi *net.Interface, ev map[string]any) []netip.Prefix {
	ev["interface"] = ifi.Name
	ev["mtu"] = ifi.MTU
	var flags []string
	for _, f := range []struct {
		f    net.Flags
		name string
	}{{net.FlagUp, "up"}, {net.FlagRunning, "running"}, {net.FlagLoopback, "loopback"}, {net.FlagPointToPoint, "point_to_point"}} {
		if ifi.Flags&f.f != 0 {
			flags = append(flags, f.name)
		}
	}
	ev["flags"] = flags
	var prefixes []netip.Prefix
	var shown []string
	if addrs, err := ifi.Addrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				ip, _ := netip.AddrFromSlice(n.IP)
				ones, _ := n.Mask.Size()
				p := netip.PrefixFrom(ip.Unmap(), ones)
				prefixes = append(prefixes, p)
				shown = append(shown, p.String())
			}
		}
	}
	ev["addresses"] = shown
	return prefixes
}

// checkIfaceBound checks the interface named by --iface before anything is
// sent through it: it exists, is up with a carrier, and has an address.
func (r *run) checkIfaceBound(ch *report.Check) bool {
	name := r.o.Iface
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		var names []string
		if all, err := net.Interfaces(); err == nil {
			for _, i := range all {
				names = append(names, i.Name)
			}
		}
		sort.Strings(names)
		ch.Evidence["interface"] = name
		ch.Evidence["available"] = names
		r.missingIface = true
		fail(ch, fmt.Sprintf("no interface %q on this machine (there are: %s)", name, strings.Join(names, ", ")),
			"check the name with 'ip link'; a modem's interface (wwan0, ppp0, usb0) exists only while its driver and connection manager have it")
		return false
	}
	r.ifi = ifi
	ch.Evidence["bound"] = true
	r.prefixes = ifaceEvidence(ifi, ch.Evidence)
	r.res.Interface, r.res.MTU = ifi.Name, ifi.MTU
	switch {
	case ifi.Flags&net.FlagUp == 0:
		fail(ch, fmt.Sprintf("%s is down", name),
			fmt.Sprintf("bring it up (ip link set %s up) or start the connection that owns it (nmcli connection up ..., or the modem's dialer); for a modem, 'ectool probe modem' tells why it has no data session", name))
		return false
	case ifi.Flags&net.FlagRunning == 0:
		fail(ch, fmt.Sprintf("%s is up but has no carrier: the link below it is down", name),
			"for Ethernet: the cable or the switch port; for a modem or a tunnel: its session is not established ('ectool probe modem')")
		return false
	case len(usable(r.prefixes)) == 0:
		fail(ch, fmt.Sprintf("%s has no IP address (only link-local, or none)", name),
			fmt.Sprintf("the interface carries no data session: for a modem the APN is often wrong or the data context not activated ('ectool probe modem'); otherwise check DHCP on %s", name))
		return false
	}
	return true
}

// usable are the prefixes that are neither link-local nor multicast.
func usable(ps []netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range ps {
		if !p.Addr().IsLinkLocalUnicast() {
			out = append(out, p)
		}
	}
	return out
}

// checkRoute finds, for the target's addresses, the way out: through
// --iface (a route through it that covers the address) or the one the
// routing table picks. It returns the addresses that have one; none fails
// net.iface.
func (r *run) checkRoute(ctx context.Context, ch *report.Check, addrs []string) []string {
	var ok []string
	var routes []map[string]any
	var lastWhy string
	for _, a := range addrs {
		dst, err := netip.ParseAddr(a)
		if err != nil {
			continue
		}
		rt, why := r.routeTo(dst)
		if rt != nil {
			routes = append(routes, rt)
			ok = append(ok, a)
			continue
		}
		routes = append(routes, map[string]any{"address": a, "route": "none", "why": why})
		lastWhy = why
	}
	ch.Evidence["routes"] = routes
	if len(ok) == 0 {
		msg := fmt.Sprintf("no route to %s", strings.Join(addrs, ", "))
		hint := "this machine has no route to the target: check its default route (ip route), its IP settings and the modem/APN"
		if r.o.Iface != "" {
			msg = fmt.Sprintf("no route to %s through %s: %s", strings.Join(addrs, ", "), r.o.Iface, lastWhy)
			hint = fmt.Sprintf("add a route through %s (ip route add %s via GATEWAY dev %s, or a default route in the table the gateway's software uses), or probe without --iface to see the path the routing table picks", r.o.Iface, addrs[0], r.o.Iface)
		}
		fail(ch, msg, hint)
		return nil
	}
	if r.ifi == nil {
		// Unbound: describe the interface the first route leaves by.
		if name, _ := routes[0]["interface"].(string); name != "" {
			if ifi, err := net.InterfaceByName(name); err == nil {
				r.ifi = ifi
				r.prefixes = ifaceEvidence(ifi, ch.Evidence)
				r.res.Interface, r.res.MTU = ifi.Name, ifi.MTU
			}
		}
	}
	return ok
}

// routeTo is the route to dst as evidence, or nil and why there is none.
func (r *run) routeTo(dst netip.Addr) (map[string]any, string) {
	src, err := sourceFor(dst, r.t.Port, r.o.Iface)
	if err != nil {
		var be *BindError
		if errors.As(err, &be) {
			r.bindErr = be
			return nil, be.Error()
		}
		if errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, syscall.EHOSTUNREACH) {
			return nil, "the routing table has no route to it (network unreachable)"
		}
		return nil, err.Error()
	}
	rt := map[string]any{"address": dst.String(), "source": src.String()}
	if r.o.Iface == "" {
		rt["interface"] = ifaceOf(src)
		return rt, ""
	}
	rt["interface"] = r.o.Iface
	desc, found, err := routeThrough(r.ifi.Index, dst)
	switch {
	case err != nil:
		return nil, err.Error()
	case found:
		rt["route"] = desc
		return rt, ""
	case r.ifi.Flags&net.FlagPointToPoint != 0:
		rt["route"] = "none, but " + r.o.Iface + " is point-to-point: packets bound to it reach its peer"
		return rt, ""
	}
	why := fmt.Sprintf("no route through %s covers %s", r.o.Iface, dst)
	if other, err := sourceFor(dst, r.t.Port, ""); err == nil {
		if name := ifaceOf(other); name != "" && name != r.o.Iface {
			why += fmt.Sprintf(" (the routing table sends it through %s)", name)
		}
	}
	return nil, why
}

// sourceFor asks the kernel which local address a datagram to dst would
// leave from (a UDP socket's connect sends nothing), bound to iface when
// set.
func sourceFor(dst netip.Addr, port int, iface string) (netip.Addr, error) {
	d := net.Dialer{Control: bindControl(iface)}
	c, err := d.DialContext(context.Background(), "udp", net.JoinHostPort(dst.String(), strconv.Itoa(port)))
	if err != nil {
		return netip.Addr{}, err
	}
	defer c.Close()
	ap, err := netip.ParseAddrPort(c.LocalAddr().String())
	if err != nil {
		return netip.Addr{}, err
	}
	return ap.Addr().Unmap(), nil
}

// ifaceOf is the name of the interface holding local address a ("" when
// none does).
func ifaceOf(a netip.Addr) string {
	all, err := net.Interfaces()
	if err != nil {
		return ""
	}
	for _, ifi := range all {
		addrs, err := ifi.Addrs()
		if err != nil {
			continue
		}
		for _, x := range addrs {
			if n, ok := x.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap() == a.WithZone("") {
					return ifi.Name
				}
			}
		}
	}
	return ""
}
