package inspect

import (
	"bytes"
	"context"
	"testing"

	"github.com/ecdata/ectool/capture"
	"github.com/ecdata/ectool/internal/pcapsynth"
)

// BenchmarkInspect decodes a synthetic telemetry capture held in memory:
// ns and allocations per packet of the whole path (reader, link/IP/TCP,
// fast path, framing, decode, analysis).
func BenchmarkInspect(b *testing.B) {
	for _, mode := range []struct {
		name string
		r    Reassembly
	}{{"fast", ReassemblyFast}, {"full", ReassemblyFull}} {
		b.Run(mode.name, func(b *testing.B) {
			var buf bytes.Buffer
			w, err := pcapsynth.NewWriter(&buf, pcapsynth.Options{})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := pcapsynth.Telemetry(w, 200000, 50); err != nil {
				b.Fatal(err)
			}
			w.Flush()
			data := buf.Bytes()
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				rd, err := capture.NewReader(bytes.NewReader(data))
				if err != nil {
					b.Fatal(err)
				}
				m := capture.NewMerger()
				m.AddReader("bench", rd)
				if _, err := Inspect(context.Background(), m, Options{Reassembly: mode.r}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*w.Packets), "ns/packet")
		})
	}
}
