package mqtt

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestReasonTextGoldenValues(t *testing.T) {
	cases := []struct {
		v      Version
		packet string
		code   byte
		text   string
		hint   string // substring of the hint; "" for none expected
	}{
		{V5, PacketConnack, 0x00, "success", ""},
		{V5, PacketDisconnect, 0x00, "normal disconnection", ""},
		{V5, PacketSuback, 0x00, "granted QoS 0", ""},
		{V5, PacketSuback, 0x02, "granted QoS 2", ""},
		{V5, PacketPuback, 0x10, "no matching subscribers", "nobody subscribes"},
		{V5, PacketConnack, 0x84, "unsupported protocol version", "--mqtt-version 3.1.1"},
		{V5, PacketConnack, 0x85, "client identifier not valid", "--client-id"},
		{V5, PacketConnack, 0x86, "bad user name or password", "--password-file"},
		{V5, PacketConnack, 0x87, "not authorized", "ACL"},
		{V5, PacketPuback, 0x87, "not authorized", "the broker's ACL does not allow this client on that topic"},
		{V5, PacketSuback, 0x87, "not authorized", "ACL"},
		{V5, PacketConnack, 0x8A, "banned", "banned"},
		{V5, PacketDisconnect, 0x8E, "session taken over", "same client id"},
		{V5, PacketPuback, 0x95, "packet too large", "maximum packet size"},
		{V5, PacketPuback, 0x97, "quota exceeded", "quota"},
		{V5, PacketConnack, 0x9A, "retain not supported", "-r"},
		{V5, PacketSuback, 0xA2, "wildcard subscriptions not supported", "+ or #"},
		{V5, PacketPuback, 0x84, "unsupported protocol version (not a valid code in puback)", "MQTT 5"},
		{V5, PacketConnack, 0x42, "unknown reason code 0x42", "does not know"},
		{V311, PacketConnack, 1, "unacceptable protocol version", "3.1.1"},
		{V311, PacketConnack, 2, "identifier rejected", "--client-id"},
		{V311, PacketConnack, 3, "server unavailable", "retry"},
		{V311, PacketConnack, 4, "bad user name or password", "--password-file"},
		{V311, PacketConnack, 5, "not authorized", "ACL"},
		{V311, PacketSuback, 0x80, "failure", "ACL"},
		{V311, PacketConnack, 6, "unknown reason code 0x06", ""},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/%s/0x%02X", c.v, c.packet, c.code), func(t *testing.T) {
			if got := ReasonText(c.v, c.packet, c.code); got != c.text {
				t.Errorf("ReasonText = %q, want %q", got, c.text)
			}
			if h := ReasonHint(c.v, c.packet, c.code); c.hint != "" && !strings.Contains(h, c.hint) {
				t.Errorf("ReasonHint = %q, want it to mention %q", h, c.hint)
			}
		})
	}
}

// Every MQTT 5 code that means failure has words and a hint.
func TestEveryFailureCodeHasAHint(t *testing.T) {
	for code, entries := range reasons5 {
		if code < 0x80 {
			continue
		}
		for _, e := range entries {
			if e.text == "" || e.hint == "" {
				t.Errorf("0x%02X: text %q hint %q", code, e.text, e.hint)
			}
		}
	}
}

func TestExplainUnwrapsStepAndReasonErrors(t *testing.T) {
	re := &ReasonError{Packet: PacketPuback, Version: V5, Code: 0x87, Reason: "acl"}
	err := fmt.Errorf("wrapped: %w", &StepError{Step: StepPublish, Message: "refused", Err: re})
	msg, hint := Explain(err)
	if msg != "refused" || !strings.Contains(hint, "ACL") {
		t.Fatalf("Explain = %q, %q", msg, hint)
	}
	var got *ReasonError
	if !errors.As(err, &got) || got.Code != 0x87 || StepOf(err) != StepPublish {
		t.Fatal("the reason code is not reachable with errors.As")
	}
	if s := re.Error(); s != "puback reason code 0x87 (not authorized): acl" {
		t.Fatalf("ReasonError.Error() = %q", s)
	}
}
