//go:build !linux

package capture

import (
	"fmt"

	"github.com/ecdata/ectool/diag/exitcode"
)

// ErrRunAsCgo is Linux's refusal in cgo builds (never returned here).
var ErrRunAsCgo error = exitcode.New(exitcode.KindCannotRun, "--run-as needs the static ectool build", "use the release binary (built with CGO_ENABLED=0)")

// RunAs is Linux only.
func RunAs(name string) error {
	return fmt.Errorf("--run-as: %w", ErrNotSupported)
}
