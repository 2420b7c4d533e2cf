package mqtt

import (
	"sync"
	"time"
)

// router hands the main connection's messages to whichever check waits on
// their topic; messages nobody waits for are dropped. It never drops a
// routed message: it waits for the check to read it (the client queues
// what arrives meanwhile), so every loss a check reports is the broker's.
// When the connection has ended and every message it delivered has been
// handed on, the router closes its inboxes: a reader that sees its inbox
// closed has missed nothing.
type router struct {
	mu    sync.Mutex
	sinks map[string]*sink
	ended bool
}

// sink is one check's inbox for a topic; done is closed by unroute.
type sink struct {
	ch   chan Message
	done chan struct{}
}

func newRouter(cl Client) *router {
	r := &router{sinks: map[string]*sink{}}
	go func() {
		for m := range cl.Messages() {
			if m.Received.IsZero() {
				m.Received = time.Now()
			}
			r.mu.Lock()
			s := r.sinks[m.Topic]
			r.mu.Unlock()
			if s == nil {
				continue
			}
			select {
			case s.ch <- m:
			case <-s.done:
			}
		}
		// Only this goroutine sends on the inboxes, and it is done.
		r.mu.Lock()
		r.ended = true
		for _, s := range r.sinks {
			close(s.ch)
		}
		r.mu.Unlock()
	}()
	return r
}

// route opens an inbox for topic. After the connection's end it is a
// closed one.
func (r *router) route(topic string, size int) <-chan Message {
	if size > 1024 {
		size = 1024
	}
	s := &sink{ch: make(chan Message, size), done: make(chan struct{})}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended {
		close(s.ch)
		return s.ch
	}
	if old := r.sinks[topic]; old != nil {
		close(old.done)
	}
	r.sinks[topic] = s
	return s.ch
}

func (r *router) unroute(topic string) {
	r.mu.Lock()
	if s := r.sinks[topic]; s != nil {
		close(s.done)
		delete(r.sinks, topic)
	}
	r.mu.Unlock()
}
