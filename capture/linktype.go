package capture

import (
	"fmt"

	"github.com/gopacket/gopacket/layers"
)

// Link types a live capture produces (pcap LINKTYPE_ values).
const (
	LinkEthernet = layers.LinkTypeEthernet // 1
	LinkRaw      = layers.LinkTypeRaw      // 101: IPv4/IPv6 without a link header
	LinkSLL2     = layers.LinkType(276)    // LINUX_SLL2: the "any" device
	LinkNull     = layers.LinkTypeNull     // 0: BSD loopback
)

// LinkTypeName is a link type's pcap name ("EN10MB", "RAW", "LINUX_SLL2").
func LinkTypeName(lt layers.LinkType) string {
	switch lt {
	case layers.LinkTypeNull:
		return "NULL"
	case layers.LinkTypeEthernet:
		return "EN10MB"
	case layers.LinkTypeRaw, 12:
		return "RAW"
	case layers.LinkTypeLinuxSLL:
		return "LINUX_SLL"
	case LinkSLL2:
		return "LINUX_SLL2"
	case layers.LinkTypeIPv4:
		return "IPV4"
	case layers.LinkTypeIPv6:
		return "IPV6"
	}
	return fmt.Sprintf("LINKTYPE_%d", uint16(lt))
}
