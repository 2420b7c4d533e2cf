package mqtt

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// closeClient ends a connection: gracefully after a success, at once after
// a failure (the broker has shown it does not answer, or is gone, so a
// graceful close would only add its wait to the error). It returns a
// warning when a Will was registered and the DISCONNECT could not be sent:
// the broker then publishes the Will.
func closeClient(c Client, will *Will, failed bool, limit time.Duration) (warning string) {
	if failed {
		_ = c.Abort()
		return ""
	}
	live := !isDone(c)
	dctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	if err := c.Disconnect(dctx); err != nil && live && will != nil {
		msg, _ := Explain(err)
		return fmt.Sprintf("%s: the broker takes this for a lost connection and publishes the Will on %s", msg, will.Topic)
	}
	return ""
}

// gone reports whether err shows a broker not worth a graceful close: the
// connection ended, or the broker stopped answering (a refusal leaves it
// there, and it gets its DISCONNECT, so no Will).
func gone(c Client, err error) bool {
	return err != nil && (isDone(c) || errors.Is(err, context.DeadlineExceeded))
}

// isDone reports whether the connection has ended.
func isDone(cl Client) bool {
	select {
	case <-cl.Done():
		return true
	default:
		return false
	}
}
