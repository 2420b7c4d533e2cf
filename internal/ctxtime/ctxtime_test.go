package ctxtime

import (
	"context"
	"testing"
	"time"
)

func TestSleepUntilEndsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := SleepUntil(ctx, time.Now().Add(time.Hour), nil); err != context.Canceled {
		t.Fatalf("cancelled context: %v", err)
	}
	if err := SleepUntil(context.Background(), time.Now().Add(-time.Second), nil); err != nil {
		t.Fatalf("a moment already past: %v", err)
	}
	if err := SleepUntil(context.Background(), time.Now().Add(time.Millisecond), nil); err != nil {
		t.Fatalf("a moment reached: %v", err)
	}
}
