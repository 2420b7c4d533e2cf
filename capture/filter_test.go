package capture

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"

	"github.com/ecdata/ectool/internal/testenv"
)

var oracleExprs = []string{
	"host 198.18.0.1",
	"src host 198.18.0.1",
	"dst host 198.18.0.2",
	"host fd00::1",
	"src host fd00::2",
	"dst host fd00::1",
	"port 1883",
	"src port 1883",
	"dst port 8883",
	"tcp port 8883",
	"udp port 53",
	"udp dst port 53",
	"port 1883 or 8883",
	"tcp",
	"udp",
	"ip",
	"ip6",
	"not tcp",
	"tcp or udp",
	"host 198.18.0.1 and (port 1883 or port 8883)",
	"!(udp) && host fd00::2",
	"tcp and not port 80",
	"(port 1883 or 8883) and (host 198.18.0.2 or host fd00::2)",
	"not (host 10.1.1.1 or port 53)",
	"host 198.18.0.1 or host 10.1.1.1 or host fd00::2",
	"not not ip6",
	"",
	BuildFilter([]uint16{1883, 8883}, []string{"198.18.0.1", "fd00::1"}, "tcp"),
}

// corpus builds Ethernet frames covering what the filter distinguishes:
// IPv4 and IPv6, TCP, UDP, SCTP and ICMP, ports on either side, later IPv4
// fragments, IPv6 fragment headers, ARP and RARP.
func corpus(t testing.TB) [][]byte {
	t.Helper()
	hosts4 := []string{"198.18.0.1", "198.18.0.2", "10.1.1.1"}
	hosts6 := []string{"fd00::1", "fd00::2", "::1"}
	ports := []uint16{1883, 8883, 53, 80}
	var out [][]byte
	ser := func(ls ...gopacket.SerializableLayer) {
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, ls...); err != nil {
			t.Fatal(err)
		}
		out = append(out, append([]byte(nil), buf.Bytes()...))
	}
	eth := func(et layers.EthernetType) *layers.Ethernet {
		return &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: et}
	}
	payload := gopacket.Payload([]byte("mqtt-ish payload"))
	for i, src := range hosts4 {
		dst := hosts4[(i+1)%len(hosts4)]
		for j, sp := range ports {
			dp := ports[(j+1)%len(ports)]
			for _, proto := range []layers.IPProtocol{layers.IPProtocolTCP, layers.IPProtocolUDP, layers.IPProtocolSCTP, layers.IPProtocolICMPv4} {
				for _, frag := range []uint16{0, 185} {
					ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto, SrcIP: net.ParseIP(src), DstIP: net.ParseIP(dst), FragOffset: frag}
					if j == 1 {
						ip.IHL = 6
						ip.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}}
					}
					ser(eth(layers.EthernetTypeIPv4), ip, transport(proto, sp, dp), payload)
				}
			}
		}
	}
	for i, src := range hosts6 {
		dst := hosts6[(i+1)%len(hosts6)]
		for j, sp := range ports {
			dp := ports[(j+2)%len(ports)]
			for _, proto := range []layers.IPProtocol{layers.IPProtocolTCP, layers.IPProtocolUDP, layers.IPProtocolSCTP} {
				ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto, SrcIP: net.ParseIP(src), DstIP: net.ParseIP(dst)}
				ser(eth(layers.EthernetTypeIPv6), ip, transport(proto, sp, dp), payload)
				// The same behind a fragment header.
				ip2 := *ip
				ip2.NextHeader = layers.IPProtocolIPv6Fragment
				fragHdr := gopacket.Payload(append([]byte{byte(proto), 0, 0, 0, 0, 0, 0, 1}, transportBytes(t, proto, sp, dp)...))
				ser(eth(layers.EthernetTypeIPv6), &ip2, fragHdr)
			}
		}
	}
	for _, et := range []layers.EthernetType{layers.EthernetTypeARP, 0x8035} {
		for i, a := range hosts4 {
			arp := &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
				Operation: 1, SourceHwAddress: []byte{2, 0, 0, 0, 0, 1}, SourceProtAddress: net.ParseIP(a).To4(),
				DstHwAddress: make([]byte, 6), DstProtAddress: net.ParseIP(hosts4[(i+1)%3]).To4()}
			ser(eth(et), arp)
		}
	}
	out = append(out, []byte{1, 2, 3}, make([]byte, 14)) // runts
	return out
}

func transport(proto layers.IPProtocol, sp, dp uint16) gopacket.SerializableLayer {
	switch proto {
	case layers.IPProtocolTCP:
		return &layers.TCP{SrcPort: layers.TCPPort(sp), DstPort: layers.TCPPort(dp), Seq: 1, ACK: true, Window: 512, DataOffset: 5}
	case layers.IPProtocolUDP:
		return &layers.UDP{SrcPort: layers.UDPPort(sp), DstPort: layers.UDPPort(dp)}
	default:
		b := make([]byte, 12)
		binary.BigEndian.PutUint16(b, sp)
		binary.BigEndian.PutUint16(b[2:], dp)
		return gopacket.Payload(b)
	}
}

func transportBytes(t testing.TB, proto layers.IPProtocol, sp, dp uint16) []byte {
	buf := gopacket.NewSerializeBuffer()
	if err := transport(proto, sp, dp).SerializeTo(buf, gopacket.SerializeOptions{}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// relink turns an Ethernet frame into the same packet on another link type.
func relink(frame []byte, lt layers.LinkType) []byte {
	if len(frame) < 14 {
		return frame
	}
	switch lt {
	case layers.LinkTypeRaw:
		return frame[14:]
	case LinkSLL2:
		h := make([]byte, 20)
		copy(h[0:2], frame[12:14])
		binary.BigEndian.PutUint32(h[4:], 2) // ifindex
		binary.BigEndian.PutUint16(h[8:], 1) // ARPHRD_ETHER
		h[11] = 6
		copy(h[12:], frame[6:12])
		return append(h, frame[14:]...)
	}
	return frame
}

// tcpdumpProgram is libpcap's compilation of expr for lt (tcpdump -ddd on
// an empty file of that link type).
func tcpdumpProgram(t *testing.T, tcpdump, expr string, lt layers.LinkType) []bpf.Instruction {
	t.Helper()
	f := filepath.Join(t.TempDir(), "lt.pcap")
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr, 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 262144)
	binary.LittleEndian.PutUint32(hdr[20:], uint32(lt))
	if err := os.WriteFile(f, hdr, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tcpdump, "-r", f, "-ddd", expr).Output()
	if err != nil {
		t.Fatalf("tcpdump -ddd %q: %v", expr, err)
	}
	lines := testenv.Lines(string(out))
	raw := make([]bpf.RawInstruction, 0, len(lines))
	for _, l := range lines[1:] {
		var r bpf.RawInstruction
		if _, err := fmt.Sscanf(l, "%d %d %d %d", &r.Op, &r.Jt, &r.Jf, &r.K); err != nil {
			t.Fatalf("tcpdump -ddd line %q: %v", l, err)
		}
		raw = append(raw, r)
	}
	prog, ok := bpf.Disassemble(raw)
	if !ok {
		t.Fatalf("cannot disassemble libpcap's program for %q", expr)
	}
	return prog
}

// Our program and libpcap's give the same verdict on every packet of the
// corpus, for every expression and link type, in the x/net/bpf VM.
func TestFilterAgreesWithTcpdumpOnACorpus(t *testing.T) {
	tcpdump := testenv.Require(t, "tcpdump")
	frames := corpus(t)
	for _, lt := range []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeRaw, LinkSLL2} {
		for _, expr := range oracleExprs {
			t.Run(LinkTypeName(lt)+"/"+expr, func(t *testing.T) {
				ours, err := CompileFilter(expr, lt, CompileOptions{})
				if err != nil {
					t.Fatal(err)
				}
				vmOurs, err := bpf.NewVM(ours.Program)
				if err != nil {
					t.Fatalf("our program does not load: %v\n%v", err, ours.Program)
				}
				vmTheirs, err := bpf.NewVM(tcpdumpProgram(t, tcpdump, expr, lt))
				if err != nil {
					t.Fatal(err)
				}
				accepted := 0
				for i, fr := range frames {
					pkt := relink(fr, lt)
					a, err1 := vmOurs.Run(pkt)
					b, err2 := vmTheirs.Run(pkt)
					if err1 != nil || err2 != nil {
						t.Fatalf("packet %d: %v %v", i, err1, err2)
					}
					if (a > 0) != (b > 0) {
						t.Fatalf("packet %d (%x): ours %d, libpcap %d\nours: %v", i, pkt[:min(len(pkt), 64)], a, b, ours.Program)
					}
					if a > 0 {
						accepted++
					}
				}
				if expr != "" && (accepted == 0 || accepted == len(frames)) {
					t.Fatalf("the corpus does not tell %q apart: %d of %d accepted", expr, accepted, len(frames))
				}
			})
		}
	}
}

func TestFilterRefusesWhatItCannotCompile(t *testing.T) {
	for _, tc := range []struct{ expr, want string }{
		{"portrange 1-100", `"portrange" is not supported (`},
		{"net 10.0.0.0/8", `"net" is not supported (`},
		{"tcp[13] & 2 != 0", `"tcp[13]" is not supported`},
		{"host example.com", "give an IPv4 or IPv6 address"},
		{"port mqtt", "give a number from 0 to 65535"},
		{"(port 1883", "not closed"},
		{"port 1883 and", "ends too early"},
		{"1883", "say what it is"},
	} {
		_, err := CompileFilter(tc.expr, layers.LinkTypeEthernet, CompileOptions{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.expr, err, tc.want)
		}
		if err != nil && strings.Contains(tc.want, "not supported") && !strings.Contains(err.Error(), "libpcap's full syntax needs cgo") {
			t.Errorf("%q: %v does not say that libpcap's syntax needs cgo", tc.expr, err)
		}
	}
}

func TestDropOutgoingPrefixesTheProgram(t *testing.T) {
	f, err := CompileFilter("port 1883", layers.LinkTypeEthernet, CompileOptions{DropOutgoing: true, Snaplen: 96})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Program[0].(bpf.LoadExtension); !ok {
		t.Fatalf("first instruction %v", f.Program[0])
	}
	if _, err := bpf.Assemble(f.Program); err != nil {
		t.Fatal(err)
	}
	if last := f.Program[len(f.Program)-2]; last != (bpf.RetConstant{Val: 96}) {
		t.Fatalf("accept returns %v, want the snap length", last)
	}
}

func FuzzParseFilter(f *testing.F) {
	for _, e := range oracleExprs {
		f.Add(e)
	}
	for _, e := range []string{"portrange 1-2", "((((", "port 99999", "host ::ffff:1.2.3.4", "src dst host 1.2.3.4", "tcp port"} {
		f.Add(e)
	}
	frames := corpus(f)
	f.Fuzz(func(t *testing.T, expr string) {
		if len(expr) > 512 {
			return
		}
		for _, lt := range []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeRaw} {
			flt, err := CompileFilter(expr, lt, CompileOptions{})
			if err != nil {
				if _, ok := err.(*FilterError); !ok {
					t.Fatalf("%q: untyped error %v", expr, err)
				}
				return
			}
			vm, err := bpf.NewVM(flt.Program)
			if err != nil {
				t.Fatalf("%q compiles to a program the VM refuses: %v", expr, err)
			}
			for _, fr := range frames[:8] {
				if _, err := vm.Run(relink(fr, lt)); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
}
