//go:build linux && !(amd64 || arm64 || ppc64 || ppc64le || mips64 || mips64le || riscv64 || s390x || loong64)

package capture

import (
	"errors"
	"time"
)

// tpacketAvailable is false on 32-bit targets: gopacket's afpacket panics
// there (unaligned 64-bit counters, gopacket/gopacket#133); the recvmsg
// reader serves them.
const tpacketAvailable = false

type tpacketSource struct{ packetSocket }

func openTPacket(name, expr string, snaplen uint32, buffer int, flush time.Duration) (*tpacketSource, error) {
	return nil, errors.New("TPACKET_V3 is not used on 32-bit targets")
}
