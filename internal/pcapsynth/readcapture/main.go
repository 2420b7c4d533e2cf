// Command readcapture reads a capture with capture inspect's own reader
// and nothing else (no decoding): scripts/bench/inspect.sh times it for
// the ceiling any inspection of the file is under.
//
//	go run ./internal/pcapsynth/readcapture FILE
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/ecdata/ectool/capture/inspect"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: readcapture FILE")
		os.Exit(2)
	}
	start := time.Now()
	src, err := inspect.OpenFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	n, bytes := 0, 0
	for {
		p, err := src.Next()
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
	el := time.Since(start)
	fmt.Printf("records=%d bytes=%d seconds=%.3f records_per_s=%.0f\n", n, bytes, el.Seconds(), float64(n)/el.Seconds())
}
