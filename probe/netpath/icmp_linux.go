//go:build linux

package netpath

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// linuxICMP is a connected ICMP echo socket, ping or raw.
type linuxICMP struct {
	f     *os.File
	fd    int
	raw   bool
	v6    bool
	id    int
	buf   []byte
	probe bool
}

// openICMP opens an ICMP echo socket to dst: a ping socket when this
// process's group may (net.ipv4.ping_group_range), else a raw one (root or
// CAP_NET_RAW). It is bound to iface when set, and connected, so the kernel
// hands it only dst's replies and the errors routers send about its
// packets. probeMTU sets the don't-fragment bit and ignores the path MTU
// the kernel has learnt (IP_PMTUDISC_PROBE).
func openICMP(dst netip.Addr, iface string, probeMTU bool) (icmpConn, error) {
	v6 := dst.Is6() && !dst.Is4In6()
	fam, proto := unix.AF_INET, unix.IPPROTO_ICMP
	if v6 {
		fam, proto = unix.AF_INET6, unix.IPPROTO_ICMPV6
	}
	c := &linuxICMP{v6: v6, buf: make([]byte, 65536), probe: probeMTU}
	fd, perr := unix.Socket(fam, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
	if perr != nil {
		var rerr error
		fd, rerr = unix.Socket(fam, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
		if rerr != nil {
			return nil, &icmpDeniedError{Reason: deniedWords(perr, rerr)}
		}
		c.raw = true
		var b [2]byte
		_, _ = rand.Read(b[:])
		c.id = int(binary.BigEndian.Uint16(b[:]))
	}
	c.fd = fd
	if err := c.setup(dst, iface); err != nil {
		unix.Close(fd)
		return nil, err
	}
	c.f = os.NewFile(uintptr(fd), "icmp")
	return c, nil
}

func (c *linuxICMP) setup(dst netip.Addr, iface string) error {
	if iface != "" {
		if err := bindFD(c.fd, iface); err != nil {
			return err
		}
	}
	if c.probe {
		var err error
		if c.v6 {
			err = unix.SetsockoptInt(c.fd, unix.IPPROTO_IPV6, unix.IPV6_MTU_DISCOVER, unix.IPV6_PMTUDISC_PROBE)
		} else {
			err = unix.SetsockoptInt(c.fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_PROBE)
		}
		if err != nil {
			return fmt.Errorf("setting don't-fragment: %w", err)
		}
	}
	var sa unix.Sockaddr
	if c.v6 {
		s := &unix.SockaddrInet6{Addr: dst.As16()}
		if z := dst.Zone(); z != "" {
			if ifi, err := net.InterfaceByName(z); err == nil {
				s.ZoneId = uint32(ifi.Index)
			}
		}
		sa = s
	} else {
		sa = &unix.SockaddrInet4{Addr: dst.Unmap().As4()}
	}
	if err := unix.Connect(c.fd, sa); err != nil {
		return fmt.Errorf("connecting the ICMP socket to %s: %w", dst, err)
	}
	return nil
}

// deniedWords says why neither socket was allowed, and how to allow one.
func deniedWords(pingErr, rawErr error) string {
	rng := strings.TrimSpace(string(readOrNil("/proc/sys/net/ipv4/ping_group_range")))
	rng = strings.Join(strings.Fields(rng), " ")
	denied := errors.Is(pingErr, unix.EACCES) || errors.Is(pingErr, unix.EPERM)
	rawDenied := errors.Is(rawErr, unix.EPERM) || errors.Is(rawErr, unix.EACCES)
	if denied && rawDenied {
		return fmt.Sprintf("neither a ping socket (group %d is outside net.ipv4.ping_group_range %q) nor a raw socket (needs CAP_NET_RAW) is allowed: run as root, or allow ping sockets with sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"", os.Getegid(), rng)
	}
	return fmt.Sprintf("no ICMP socket: ping socket: %v; raw socket: %v", pingErr, rawErr)
}

func (c *linuxICMP) Kind() string {
	if c.raw {
		return "raw socket"
	}
	return "ping socket"
}

func (c *linuxICMP) Send(seq, size int) error {
	hdr := 8 + 20
	var typ icmp.Type = ipv4.ICMPTypeEcho
	if c.v6 {
		hdr, typ = 8+40, ipv6.ICMPTypeEchoRequest
	}
	data := make([]byte, max(size-hdr, 0))
	for i := range data {
		data[i] = byte(i)
	}
	m := icmp.Message{Type: typ, Body: &icmp.Echo{ID: c.id, Seq: seq, Data: data}}
	b, err := m.Marshal(nil)
	if err != nil {
		return err
	}
	_, err = c.f.Write(b)
	return err
}

func (c *linuxICMP) Recv(deadline time.Time) (int, error) {
	if err := c.f.SetReadDeadline(deadline); err != nil {
		return 0, err
	}
	for {
		n, err := c.f.Read(c.buf)
		if err != nil {
			return 0, err
		}
		if seq, ok := parseEchoReply(c.buf[:n], c.v6, c.raw, c.id); ok {
			return seq, nil
		}
	}
}

func (c *linuxICMP) PathMTU() int {
	var v int
	var err error
	if c.v6 {
		v, err = unix.GetsockoptInt(c.fd, unix.IPPROTO_IPV6, unix.IPV6_MTU)
	} else {
		v, err = unix.GetsockoptInt(c.fd, unix.IPPROTO_IP, unix.IP_MTU)
	}
	if err != nil {
		return 0
	}
	return v
}

func (c *linuxICMP) Close() error { return c.f.Close() }
