package mqtt

import (
	"context"
	"errors"
)

// TODO(issue 2): replaced by the real implementation in connect.go / reasons.go.

// Connect reaches the broker and logs in.
func Connect(ctx context.Context, o Options) (Client, error) {
	return nil, errors.New("not implemented")
}

// ReasonText is the MQTT reason code in words.
func ReasonText(v Version, packet string, code byte) string { return "unknown" }
