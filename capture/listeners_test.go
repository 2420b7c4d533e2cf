package capture

import (
	"net/netip"
	"reflect"
	"testing"
)

func TestListenerCommentRoundTrips(t *testing.T) {
	ls := []Listener{
		{Name: "mqtt", URL: "mqtt://127.0.0.1:41883", Addr: netip.MustParseAddrPort("127.0.0.1:41883"), Protocol: ProtoMQTT},
		{Name: "ws", URL: "ws://127.0.0.1:41885/mqtt", Addr: netip.MustParseAddrPort("127.0.0.1:41885"), Protocol: ProtoMQTTWS},
		{Name: "mtls", URL: "mqtts://[::1]:41886", Addr: netip.MustParseAddrPort("[::1]:41886"), Protocol: ProtoMQTTTLS},
	}
	text := "recorded by ectool lab\n" + FormatListeners(ls) + "ectool-listener name=broken url=nope protocol=mqtt\n"
	if got := ParseListeners(text); !reflect.DeepEqual(got, ls) {
		t.Fatalf("round trip:\n%s\ngot %+v", text, got)
	}
	want := "ectool-listener name=mqtt url=mqtt://127.0.0.1:41883 protocol=mqtt\n"
	if got := FormatListeners(ls[:1]); got != want {
		t.Fatalf("golden line: %q, want %q", got, want)
	}
}
