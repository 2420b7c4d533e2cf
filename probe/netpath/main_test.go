package netpath

import (
	"testing"

	"github.com/ecdata/ectool/internal/testenv"
)

// Each run of this package's tests has a network namespace of its own: the
// probes' peers live in namespaces the tests create, reached over veths.
func TestMain(m *testing.M) { testenv.Main(m) }
