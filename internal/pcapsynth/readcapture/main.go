// Command readcapture reads a capture with the reader capture inspect uses
// (package capture's, merged as inspect merges its inputs) and nothing else
// (no decoding): scripts/bench/inspect.sh times it for the ceiling any
// inspection of the file is under.
//
//	go run ./internal/pcapsynth/readcapture FILE
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/ecdata/ectool/capture"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: readcapture FILE")
		os.Exit(2)
	}
	start := time.Now()
	m, err := capture.MergeFiles(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer m.Close()
	n, bytes := 0, 0
	for {
		p, err := m.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		n++
		bytes += len(p.Data)
	}
	for _, t := range m.Torn() {
		fmt.Fprintf(os.Stderr, "%s: %s\n", t.File, t.Torn.String())
	}
	el := time.Since(start)
	fmt.Printf("records=%d bytes=%d seconds=%.3f records_per_s=%.0f\n", n, bytes, el.Seconds(), float64(n)/el.Seconds())
}
