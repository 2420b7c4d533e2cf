package mqtt

import (
	"strings"
	"testing"
)

func TestParseBrokerDefaultsAndErrors(t *testing.T) {
	good := []struct{ in, want string }{
		{"mqtt://broker", "mqtt://broker:1883"},
		{"tcp://10.0.0.5", "mqtt://10.0.0.5:1883"},
		{"broker.example.com", "mqtt://broker.example.com:1883"},
		{"broker:1884", "mqtt://broker:1884"},
		{"mqtts://broker", "mqtts://broker:8883"},
		{"ssl://broker:8884", "mqtts://broker:8884"},
		{"MQTTS://Broker", "mqtts://Broker:8883"},
		{"ws://broker", "ws://broker:80/mqtt"},
		{"ws://broker:8080/ws", "ws://broker:8080/ws"},
		{"wss://broker", "wss://broker:443/mqtt"},
		{"mqtt://[::1]:1883", "mqtt://[::1]:1883"},
		{"mqtt://broker/", "mqtt://broker:1883"},
	}
	for _, g := range good {
		b, err := ParseBroker(g.in)
		if err != nil || b.String() != g.want {
			t.Errorf("ParseBroker(%q) = %q, %v; want %q", g.in, b.String(), err, g.want)
		}
	}
	bad := []struct{ in, says string }{
		{"", "no broker URL"},
		{"http://broker", "not MQTT"},
		{"mqtt://broker:0", "1 to 65535"},
		{"mqtt://broker:99999", "1 to 65535"},
		{"mqtt://broker:x", "not a valid URL"},
		{"mqtt://user:pw@broker", "credentials"},
		{"mqtt://broker/path", "takes no path"},
		{"mqtt://broker?x=1", "query"},
		{"mqtt://:1883", "no host"},
		{"broker/x", "not a broker URL"},
	}
	for _, b := range bad {
		_, err := ParseBroker(b.in)
		if err == nil || !strings.Contains(err.Error(), b.says) {
			t.Errorf("ParseBroker(%q) error %v, want one saying %q", b.in, err, b.says)
		}
	}
}

func TestTopicAndFilterValidation(t *testing.T) {
	for _, ok := range []string{"a", "a/b/c", "/leading", "ec-data/site 1/m"} {
		if err := ValidateTopic(ok); err != nil {
			t.Errorf("ValidateTopic(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a/+/c", "a/#", "a\x00b", "\xff"} {
		if ValidateTopic(bad) == nil {
			t.Errorf("ValidateTopic(%q) accepted", bad)
		}
	}
	for _, ok := range []string{"#", "+", "a/+/c", "a/#", "+/+/#", "$share/g/a/#"} {
		if err := ValidateFilter(ok); err != nil {
			t.Errorf("ValidateFilter(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a/#/c", "a#", "a/b+", "$share/g", "$share//a"} {
		if ValidateFilter(bad) == nil {
			t.Errorf("ValidateFilter(%q) accepted", bad)
		}
	}
}
