//go:build !linux

package capture

import (
	"errors"
	"fmt"
	"runtime"
)

// ErrRunAsCgo is Linux's refusal in cgo builds (never returned here).
var ErrRunAsCgo = errors.New("--run-as needs the static ectool build")

// RunAs is Linux only.
func RunAs(name string) error {
	return fmt.Errorf("%w: --run-as is not supported on %s", ErrNotSupported, runtime.GOOS)
}
