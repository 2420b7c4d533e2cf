package broker_test

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/ecdata/ectool/lab/broker"
)

// Start a lab broker as a second target for a test suite: plain, TLS and
// WebSocket URLs, the CA to trust, and accounts with password files.
func ExampleStart() {
	dir, _ := os.MkdirTemp("", "broker-example-")
	defer os.RemoveAll(dir)
	b, err := broker.Start(context.Background(), broker.Config{Site: "plant7", Dir: dir})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close()
	fmt.Println(strings.HasPrefix(b.MQTT, "mqtt://127.0.0.1:"), strings.HasPrefix(b.MQTTS, "mqtts://127.0.0.1:"))
	gw := b.User("gateway")
	fmt.Println(gw.Name, gw.Rules[0].Filter, gw.Rules[0].Access)
	// Output:
	// true true
	// gateway ec-data/plant7/# readwrite
}
