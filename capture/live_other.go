//go:build !linux

package capture

import (
	"context"
	"fmt"
	"runtime"
)

// Live is Linux only.
func Live(ctx context.Context, o LiveOptions) (*LiveResult, error) {
	return nil, fmt.Errorf("%w: not supported on %s", ErrNotSupported, runtime.GOOS)
}
