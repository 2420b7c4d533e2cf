package mqtt

import (
	"testing"

	"github.com/eclipse/paho.golang/packets"
)

// When the broker answers a publish and closes the connection at once
// (PUBACK 0x87, then the close: mosquitto 2.0.11 with max_queued_messages
// 0), the answer already read must reach the publish, not the "connection
// lost" that failAll hands the rest. The race is narrow, so it is run many
// times.
func TestAnAnswerReadBeforeTheCloseIsNotTakenForALoss(t *testing.T) {
	for i := 0; i < 500; i++ {
		s := newAsyncSession()
		got := make(chan packets.ControlPacket, 1)
		s.mu.Lock()
		s.pending[1] = func(r packets.ControlPacket) { got <- r }
		s.mu.Unlock()
		puback := packets.NewControlPacket(packets.PUBACK)
		puback.Content.(*packets.Puback).PacketID = 1
		puback.Content.(*packets.Puback).ReasonCode = 0x87
		s.resp <- *puback
		s.failAll()
		close(s.stop)
		if r := <-got; r.Type != packets.PUBACK {
			t.Fatalf("run %d: the publish got %v, not the PUBACK read before the end", i, r.Type)
		}
	}
}
