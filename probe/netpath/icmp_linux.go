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
	"syscall"
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
	// Errors routers send about our packets, with their address, in the
	// error queue.
	if c.v6 {
		_ = unix.SetsockoptInt(c.fd, unix.IPPROTO_IPV6, unix.IPV6_RECVERR, 1)
	} else {
		_ = unix.SetsockoptInt(c.fd, unix.IPPROTO_IP, unix.IP_RECVERR, 1)
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
	rc, err := c.f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var seq int
	var got error
	err = rc.Read(func(fd uintptr) bool {
		for {
			if e := c.errQueue(int(fd)); e != nil {
				got = e
				return true
			}
			n, err := unix.Read(int(fd), c.buf)
			switch {
			case err == unix.EAGAIN:
				return false
			case err != nil:
				// The socket's pending error: the error queue holds the
				// details (who sent it, the MTU), unless it is another.
				if e := c.errQueue(int(fd)); e != nil {
					got = e
				} else {
					got = err
				}
				return true
			}
			if s, ok := parseEchoReply(c.buf[:n], c.v6, c.raw, c.id); ok {
				seq = s
				return true
			}
		}
	})
	if err != nil {
		return 0, err
	}
	return seq, got
}

// errQueue reads one ICMP error about our packets from the socket's error
// queue (IP_RECVERR), or nil when it is empty. Without the queue a ping or
// raw socket learns of "network unreachable" only for a fatal error, and an
// unread queue would keep waking the poller.
func (c *linuxICMP) errQueue(fd int) error {
	oob := make([]byte, 512)
	_, oobn, _, _, err := unix.Recvmsg(fd, c.buf[:512], oob, unix.MSG_ERRQUEUE)
	if err != nil {
		return nil
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return nil
	}
	for _, m := range msgs {
		if !(m.Header.Level == unix.IPPROTO_IP && m.Header.Type == unix.IP_RECVERR) &&
			!(m.Header.Level == unix.IPPROTO_IPV6 && m.Header.Type == unix.IPV6_RECVERR) {
			continue
		}
		return parseExtendedErr(m.Data)
	}
	return nil
}

// parseExtendedErr reads a struct sock_extended_err and the offender's
// address after it.
func parseExtendedErr(b []byte) error {
	if len(b) < 16 {
		return nil
	}
	e := &ICMPError{Errno: syscall.Errno(binary.NativeEndian.Uint32(b[0:4])), Type: int(b[5]), Code: int(b[6])}
	if b[4] == unix.SO_EE_ORIGIN_ICMP || b[4] == unix.SO_EE_ORIGIN_ICMP6 {
		e.MTU = int(binary.NativeEndian.Uint32(b[8:12]))
	}
	off := b[16:]
	if len(off) >= 8 && binary.NativeEndian.Uint16(off[0:2]) == unix.AF_INET {
		e.From = netip.AddrFrom4([4]byte(off[4:8]))
	} else if len(off) >= 24 && binary.NativeEndian.Uint16(off[0:2]) == unix.AF_INET6 {
		e.From = netip.AddrFrom16([16]byte(off[8:24]))
	}
	return e
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
