//go:build !linux

package capture

import (
	"context"
	"fmt"
	"runtime"

	"github.com/gopacket/gopacket/layers"
)

// Live is Linux only.
func Live(ctx context.Context, o LiveOptions) (*LiveResult, error) {
	return nil, fmt.Errorf("%w: not supported on %s", ErrNotSupported, runtime.GOOS)
}

// LinkTypeOf is Linux only.
func LinkTypeOf(name string) (layers.LinkType, error) {
	return 0, fmt.Errorf("%w: not supported on %s", ErrNotSupported, runtime.GOOS)
}
