package main

import (
	"context"
	"strings"
	"testing"

	"github.com/ecdata/ectool/internal/testenv"
	"github.com/ecdata/ectool/lab/broker"
)

// The lab's embedded broker (mochi-mqtt) refuses what its ACL does not
// allow with reason codes, which mosquitto's acl_file does not do for
// subscriptions: a refused subscription must be a failure, never a silent
// grant.
func TestPubAndSubAgainstTheLabBroker(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b, err := broker.Start(ctx, broker.Config{Dir: testenv.PrivateDir(t), MQTTSPort: -1, WSPort: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	tech := b.User("tech")
	auth := []string{"-b", b.MQTT, "-u", tech.Name, "--password-file", tech.PasswordFile}
	for _, v := range mqttVersions {
		args := append([]string{"--mqtt-version", v.ectool}, auth...)
		wait := startSub(t, append([]string{"-t", "ectool/lab/seq", "-q", "1", "--count", "50", "--timeout", "20s", "--expect-seq"}, args...)...)
		if _, errOut, code := ectoolMQTT(t, append([]string{"pub", "-t", "ectool/lab/seq", "-q", "1", "--count", "50", "--seq"}, args...)...); code != 0 {
			t.Fatalf("MQTT %s pub: exit %d: %s", v.ectool, code, errOut)
		}
		if out, errOut, code := wait(); code != 0 || !strings.Contains(out, "summary: received 50, lost 0, duplicated 0, out of order 0") {
			t.Fatalf("MQTT %s sub: exit %d: %s %s", v.ectool, code, out, errOut)
		}
		_, errOut, code := ectoolMQTT(t, append([]string{"sub", "-t", broker.DeniedFilter, "--timeout", "2s"}, args...)...)
		if code != 1 || !strings.Contains(errOut, "refused the subscription") {
			t.Fatalf("MQTT %s refused subscription: exit %d: %s", v.ectool, code, errOut)
		}
	}
	_, errOut, code := ectoolMQTT(t, append([]string{"pub", "-t", "denied/x", "-m", "x", "-q", "1"}, auth...)...)
	if code != 1 || !strings.Contains(errOut, "not authorized") {
		t.Fatalf("refused publish: exit %d: %s", code, errOut)
	}
}
