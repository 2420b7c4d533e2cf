package main

// Where mosquitto cannot misbehave the way a test needs (an undefined
// CONNACK code, a broker that never answers, a DISCONNECT during SUBSCRIBE),
// a tiny broker written here stands in: it speaks just enough MQTT on
// loopback.

import (
	"bufio"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/ecdata/ectool/internal/testenv"
)

// fakeBroker accepts connections on a loopback port; for each it reads the
// CONNECT and hands the connection to serve. It returns the mqtt:// URL.
func fakeBroker(t *testing.T, serve func(c net.Conn, r *bufio.Reader)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				r := bufio.NewReader(c)
				if serve == nil {
					_, _ = io.Copy(io.Discard, r) // silent: never answers
					return
				}
				if hdr, _, err := readPacket(r); err != nil || hdr>>4 != 1 {
					return
				}
				serve(c, r)
			}()
		}
	}()
	return "mqtt://" + ln.Addr().String()
}

// readPacket reads one MQTT packet: its first byte and its body.
func readPacket(r *bufio.Reader) (byte, []byte, error) {
	hdr, err := r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, mult := 0, 1
	for i := 0; i < 4; i++ {
		b, err := r.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		n += int(b&0x7f) * mult
		mult *= 128
		if b&0x80 == 0 {
			break
		}
	}
	body := make([]byte, n)
	_, err = io.ReadFull(r, body)
	return hdr, body, err
}

// untilPacket reads packets until one of type typ (the high nibble) arrives.
func untilPacket(r *bufio.Reader, typ byte) ([]byte, bool) {
	for {
		hdr, body, err := readPacket(r)
		if err != nil {
			return nil, false
		}
		if hdr>>4 == typ {
			return body, true
		}
	}
}

var (
	connack5   = []byte{0x20, 0x03, 0x00, 0x00, 0x00}
	connack311 = []byte{0x20, 0x02, 0x00, 0x00}
)

// timed runs ectool and returns its output, exit code and how long it took.
func timed(t *testing.T, args ...string) (string, string, int, time.Duration) {
	t.Helper()
	testenv.Binary(t) // built before the clock starts
	start := time.Now()
	out, errOut, code := run{args: args}.exec(t)
	return out, errOut, code, time.Since(start)
}
