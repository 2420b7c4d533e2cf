//go:build !linux

package capture

import (
	"context"

	"github.com/gopacket/gopacket/layers"
)

// Live is Linux only.
func Live(ctx context.Context, o LiveOptions) (*LiveResult, error) {
	return nil, ErrNotSupported
}

// LinkTypeOf is Linux only.
func LinkTypeOf(name string) (layers.LinkType, error) {
	return 0, ErrNotSupported
}
