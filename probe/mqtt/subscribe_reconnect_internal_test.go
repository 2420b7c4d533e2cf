package mqtt

import (
	"errors"
	"io"
	"testing"
)

func TestOnlyALossOfTheLinkOrBrokerIsReconnected(t *testing.T) {
	disconnect := func(code byte) error {
		return &StepError{Step: StepReceive, Err: &ReasonError{Packet: PacketDisconnect, Version: V5, Code: code}}
	}
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{io.EOF, true},
		{errors.New("connection reset by peer"), true},
		{disconnect(0x8B), true},  // server shutting down
		{disconnect(0x89), true},  // server busy
		{disconnect(0x8D), true},  // keep-alive timeout
		{disconnect(0x98), false}, // administrative action
		{disconnect(0x8E), false}, // session taken over
		{disconnect(0x87), false}, // not authorized
	} {
		if got := survivable(tc.err); got != tc.want {
			t.Errorf("survivable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
	if !fatalReconnect(&StepError{Step: StepConnect, Err: &ReasonError{Packet: PacketConnack, Version: V5, Code: 0x86}}) || fatalReconnect(io.EOF) {
		t.Error("fatalReconnect")
	}
	if got := lostReason(&StepError{Step: StepReceive, Message: "connection to the broker lost: the broker closed the connection"}); got != "the broker closed the connection" {
		t.Errorf("lostReason %q", got)
	}
}
