package inspect

import (
	"container/heap"
	"errors"
	"io"
	"strings"
)

// Merge reads several sources as one, in time order (mergecap's rule:
// the earliest pending packet first; equal times keep the argument order).
// Each source must itself be in time order.
func Merge(sources ...Source) Source {
	if len(sources) == 1 {
		return sources[0]
	}
	return &mergeSource{sources: sources}
}

type mergeItem struct {
	src Source
	idx int
	pkt Packet
}

type mergeSource struct {
	sources []Source
	items   mergeHeap
	started bool
	// last is the source whose packet was handed out last: its buffer is
	// reused by its next read, so it is read only when Next is called again.
	last    *mergeItem
	pending []error
}

type mergeHeap []*mergeItem

func (h mergeHeap) Len() int { return len(h) }
func (h mergeHeap) Less(i, j int) bool {
	if h[i].pkt.Time.Equal(h[j].pkt.Time) {
		return h[i].idx < h[j].idx
	}
	return h[i].pkt.Time.Before(h[j].pkt.Time)
}
func (h mergeHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *mergeHeap) Push(x any)   { *h = append(*h, x.(*mergeItem)) }
func (h *mergeHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}

func (m *mergeSource) Name() string {
	names := make([]string, len(m.sources))
	for i, s := range m.sources {
		names[i] = s.Name()
	}
	return strings.Join(names, " ")
}

func (m *mergeSource) Comments() []string {
	var all []string
	for _, s := range m.sources {
		all = appendNew(all, s.Comments()...)
	}
	return all
}

// fill reads the next packet of it; input errors are queued for Next.
func (m *mergeSource) fill(it *mergeItem) {
	for {
		p, err := it.src.Next()
		if err == nil {
			it.pkt = p
			heap.Push(&m.items, it)
			return
		}
		if errors.Is(err, io.EOF) {
			return
		}
		m.pending = append(m.pending, err)
	}
}

func (m *mergeSource) Next() (Packet, error) {
	if !m.started {
		m.started = true
		for i, s := range m.sources {
			m.fill(&mergeItem{src: s, idx: i})
		}
	}
	if m.last != nil {
		it := m.last
		m.last = nil
		m.fill(it)
	}
	if len(m.pending) > 0 {
		err := m.pending[0]
		m.pending = m.pending[1:]
		return Packet{}, err
	}
	if m.items.Len() == 0 {
		return Packet{}, io.EOF
	}
	it := heap.Pop(&m.items).(*mergeItem)
	m.last = it
	return it.pkt, nil
}

func (m *mergeSource) Close() error {
	var first error
	for _, s := range m.sources {
		if err := s.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
