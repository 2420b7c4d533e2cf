// Package ctxtime holds the one wait the watch loops share: until a moment
// or until their context ends, whichever comes first.
package ctxtime

import (
	"context"
	"time"
)

// SleepUntil waits until t by the clock now (time.Now when nil) or until
// ctx ends; it returns ctx's error in the second case, nil in the first.
// A t already past returns at once.
func SleepUntil(ctx context.Context, t time.Time, now func() time.Time) error {
	if now == nil {
		now = time.Now
	}
	d := t.Sub(now())
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
