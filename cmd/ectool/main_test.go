package main

import (
	"testing"

	"github.com/ecdata/ectool/internal/testenv"
)

// TestMain runs this package's tests in a network namespace of their own.
func TestMain(m *testing.M) { testenv.Main(m) }
