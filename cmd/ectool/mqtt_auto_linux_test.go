package main

import (
	"strings"
	"testing"

	"github.com/ecdata/ectool/internal/testenv"
)

// probe net --mqtt takes auto too and says what it settled on.
func TestProbeNetMQTTAutoOnAedes(t *testing.T) {
	a := testenv.StartAedes(t, testenv.AedesConfig{})
	r := probeNet(t, "", -1, 0, a.URL, "--mqtt", "--mqtt-version", "auto")
	if s, text := r.check("net.mqtt"); s != "ok" || !strings.Contains(text, `"version":"3.1.1"`) || !strings.Contains(text, `"fell_back":true`) {
		t.Errorf("net.mqtt: %s %s", s, text)
	}
}
