package netpath

import (
	"strings"
	"testing"
)

func TestTargetsParseAsATechnicianTypesThem(t *testing.T) {
	cases := []struct {
		raw    string
		tls    bool
		scheme string
		host   string
		port   int
		broker string
	}{
		{"broker.example.com:8883", true, "", "broker.example.com", 8883, "mqtts://broker.example.com:8883"},
		{"10.0.0.5:1883", false, "", "10.0.0.5", 1883, "mqtt://10.0.0.5:1883"},
		{"[2001:db8::1]:443", true, "", "2001:db8::1", 443, "mqtts://[2001:db8::1]:443"},
		{"api.example.com:8443", true, "", "api.example.com", 8443, "mqtts://api.example.com:8443"},
		{"mqtts://broker.example.com", true, "mqtts", "broker.example.com", 8883, "mqtts://broker.example.com:8883"},
		{"mqtt://broker.example.com:8883", false, "mqtt", "broker.example.com", 8883, "mqtt://broker.example.com:8883"},
		{"wss://broker.example.com/mqtt", true, "wss", "broker.example.com", 443, "wss://broker.example.com:443/mqtt"},
		{"ws://broker.example.com:8080", false, "ws", "broker.example.com", 8080, "ws://broker.example.com:8080/mqtt"},
		{"https://api.example.com", true, "https", "api.example.com", 443, ""},
		{"ssl://broker:8883", true, "mqtts", "broker", 8883, "mqtts://broker:8883"},
	}
	for _, c := range cases {
		got, err := ParseTarget(c.raw, false)
		if err != nil {
			t.Errorf("%s: %v", c.raw, err)
			continue
		}
		if got.TLS != c.tls || got.Scheme != c.scheme || got.Host != c.host || got.Port != c.port || got.BrokerURL() != c.broker {
			t.Errorf("%s: got %+v broker %q", c.raw, got, got.BrokerURL())
		}
	}
	if got, _ := ParseTarget("10.0.0.5:1883", true); !got.TLS {
		t.Error("--tls does not make host:1883 a TLS target")
	}
}

func TestBadTargetsAreRefusedInWords(t *testing.T) {
	for raw, want := range map[string]string{
		"":                    "empty target",
		"broker.example.com":  "host:port",
		"broker:0":            "1 to 65535",
		"broker:99999":        "1 to 65535",
		"broker:http":         "1 to 65535",
		"ftp://broker":        "scheme",
		"mqtt://u:p@broker":   "credentials",
		"mqtts://":            "no host",
		"mqtts://broker:":     "empty port",
		"bro ker:1883":        "not a valid host name",
		"[2001:db8::1:1883":   "host:port",
		"2001:db8::1:1883":    "host:port",
		"mqtt://[fe80::1%25x": "not a valid URL",
	} {
		_, err := ParseTarget(raw, false)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one saying %q", raw, err, want)
		}
	}
}

func TestPinsMustBeSHA256OfThirtyTwoBytes(t *testing.T) {
	good := "sha256//YhKJKSzoTt2b5FP18fvpHo7fJYqQCjAa3HWY3tvRMjE="
	pins, err := ParsePins([]string{good, good + ";" + good})
	if err != nil || len(pins) != 3 {
		t.Fatalf("pins %v, %v", pins, err)
	}
	for _, bad := range []string{"YhKJKSzoTt2b5FP18fvpHo7fJYqQCjAa3HWY3tvRMjE=", "sha256//abc", "sha1//YhKJKSzoTt2b5FP18fvpHo7fJYqQCjAa3HWY3tvRMjE=", "sha256//!!!"} {
		if _, err := ParsePins([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestResolversTakeAnAddressAndAnOptionalPort(t *testing.T) {
	for in, want := range map[string]string{"9.9.9.9": "9.9.9.9:53", "9.9.9.9:5353": "9.9.9.9:5353", "2001:db8::53": "[2001:db8::53]:53", "[2001:db8::53]:5353": "[2001:db8::53]:5353"} {
		if got, err := ParseResolver(in); err != nil || got != want {
			t.Errorf("%s: %q, %v", in, got, err)
		}
	}
	for _, bad := range []string{"dns.google", "9.9.9.9:0", "", "9.9.9.9:x"} {
		if _, err := ParseResolver(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
