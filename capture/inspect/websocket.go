package inspect

import (
	"bytes"
	"encoding/binary"
	"strconv"
	"strings"
	"time"
)

// looksLikeWSUpgrade is an HTTP request upgrading to WebSocket with the
// mqtt subprotocol (how MQTT clients and brokers name it).
func looksLikeWSUpgrade(b []byte) bool {
	if !bytes.HasPrefix(b, []byte("GET ")) {
		return false
	}
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		end = len(b)
	}
	h := bytes.ToLower(b[:end])
	return bytes.Contains(h, []byte("upgrade: websocket")) && bytes.Contains(h, []byte("sec-websocket-protocol:")) && bytes.Contains(h, []byte("mqtt"))
}

// maxHTTPHeader bounds the HTTP upgrade kept before giving up on it.
const maxHTTPHeader = 16 << 10

// wsConn reads MQTT over WebSocket: the HTTP upgrade, then frames (masked
// from the client, fragmented or not), whose data goes to the MQTT
// session.
type wsConn struct {
	c    *conn
	s    *session
	info WebSocket
	dir  [2]wsDir
}

type wsDir struct {
	httpDone bool
	http     []byte
	synced   bool
	// The frame being read: its header (up to 14 bytes), then payload.
	hdr     [14]byte
	hdrN    int
	left    uint64
	masked  bool
	key     [4]byte
	keyPos  int
	opcode  byte
	data    bool // the message being read is data (not control)
	ctrl    []byte
	scratch []byte
}

func newWSConn(c *conn) *wsConn {
	w := &wsConn{c: c, s: newSession(c, ProtoWS)}
	w.s.info.WebSocket = &w.info
	w.s.alignOverride = true
	for dir := range w.dir {
		// A direction read from its start begins with HTTP, and its MQTT
		// stream then starts at a packet.
		w.dir[dir].httpDone = !c.half[dir].aligned
		w.s.framerSynced[dir] = c.half[dir].aligned
	}
	return w
}

func (w *wsConn) data(dir int, ts time.Time, b []byte) {
	st := &w.dir[dir]
	if !st.httpDone {
		b = w.httpPart(dir, st, b)
		if !st.httpDone || len(b) == 0 {
			return
		}
		st.synced = true
	}
	w.frames(dir, st, ts, b)
}

// httpPart gathers the upgrade request or response; it returns the bytes
// after it.
func (w *wsConn) httpPart(dir int, st *wsDir, b []byte) []byte {
	st.http = append(st.http, b...)
	end := bytes.Index(st.http, []byte("\r\n\r\n"))
	if end < 0 {
		if len(st.http) > maxHTTPHeader {
			st.http, st.httpDone = nil, true
		}
		return nil
	}
	head := string(st.http[:end])
	rest := append([]byte(nil), st.http[end+4:]...)
	st.http, st.httpDone = nil, true
	lines := strings.Split(head, "\r\n")
	if dir == toBroker {
		if f := strings.Fields(lines[0]); len(f) >= 2 {
			path := f[1]
			// A query string may carry a token: never kept.
			if i := strings.IndexByte(path, '?'); i >= 0 {
				path = path[:i]
			}
			w.info.Path = path
		}
	} else {
		if f := strings.Fields(lines[0]); len(f) >= 2 {
			w.info.Status, _ = strconv.Atoi(f[1])
		}
		for _, l := range lines[1:] {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(strings.TrimSpace(k), "sec-websocket-protocol") {
				w.info.Subprotocol = strings.TrimSpace(v)
			}
		}
		if w.info.Status != 101 {
			w.s.an.wsRefused(w.s, w.info.Status)
		}
	}
	return rest
}

// frames reads WebSocket frames and passes data payloads on, unmasked.
func (w *wsConn) frames(dir int, st *wsDir, ts time.Time, b []byte) {
	if !st.synced {
		// Joined mid-way: a frame must start this chunk.
		if len(b) < 2 || !wsPlausible(b[0], b[1], dir) {
			return
		}
		st.synced, st.hdrN, st.left, st.data = true, 0, 0, true
	}
	for len(b) > 0 {
		if st.left == 0 {
			n, done := st.header(b)
			b = b[n:]
			if !done {
				return
			}
			if st.left == 0 {
				w.frameEnd(dir, st, ts)
			}
			continue
		}
		n := int(min(st.left, uint64(len(b))))
		w.payload(dir, st, ts, b[:n])
		b = b[n:]
		st.left -= uint64(n)
		if st.left == 0 {
			w.frameEnd(dir, st, ts)
		}
	}
}

// wsPlausible: RSV bits clear, a known opcode, masked from the client
// only.
func wsPlausible(b0, b1 byte, dir int) bool {
	op := b0 & 0x0f
	known := op <= 2 || (op >= 8 && op <= 10)
	return b0&0x70 == 0 && known && (b1&0x80 != 0) == (dir == toBroker)
}

// header reads a frame header from b; it returns the bytes used and
// whether the header is complete.
func (st *wsDir) header(b []byte) (int, bool) {
	used := 0
	need := 2
	for {
		if st.hdrN >= 2 {
			need = 2
			switch st.hdr[1] & 0x7f {
			case 126:
				need += 2
			case 127:
				need += 8
			}
			if st.hdr[1]&0x80 != 0 {
				need += 4
			}
		}
		if st.hdrN >= need {
			break
		}
		if used == len(b) {
			return used, false
		}
		st.hdr[st.hdrN] = b[used]
		st.hdrN++
		used++
	}
	h := st.hdr[:st.hdrN]
	op := h[0] & 0x0f
	n := uint64(h[1] & 0x7f)
	off := 2
	switch n {
	case 126:
		n = uint64(binary.BigEndian.Uint16(h[2:]))
		off = 4
	case 127:
		n = binary.BigEndian.Uint64(h[2:])
		off = 10
	}
	st.masked = h[1]&0x80 != 0
	if st.masked {
		copy(st.key[:], h[off:off+4])
	}
	st.keyPos = 0
	st.left = n
	st.hdrN = 0
	switch {
	case op == 1 || op == 2:
		st.data = true
	case op >= 8:
		st.ctrl = st.ctrl[:0]
	}
	st.opcode = op
	return used, true
}

func (w *wsConn) payload(dir int, st *wsDir, ts time.Time, b []byte) {
	if cap(st.scratch) < len(b) {
		st.scratch = make([]byte, len(b))
	}
	p := st.scratch[:len(b)]
	copy(p, b)
	if st.masked {
		for i := range p {
			p[i] ^= st.key[(st.keyPos+i)&3]
		}
		st.keyPos = (st.keyPos + len(p)) & 3
	}
	if st.opcode >= 8 {
		if len(st.ctrl)+len(p) <= 125 {
			st.ctrl = append(st.ctrl, p...)
		}
		return
	}
	if st.data {
		w.s.feed(dir, ts, p)
	}
}

func (w *wsConn) frameEnd(dir int, st *wsDir, ts time.Time) {
	if st.opcode == 8 && w.s.endHow == "" {
		// A WebSocket close ends the MQTT connection as a DISCONNECT
		// would not: note it like a TCP close with the code.
		w.s.closed(dir, ts, false)
		if len(st.ctrl) >= 2 {
			code := int(binary.BigEndian.Uint16(st.ctrl))
			w.s.endCode = &code
			w.s.endReason = "WebSocket close " + strconv.Itoa(code)
		}
	}
}

func (w *wsConn) gap(dir int, ts time.Time, n int) {
	w.dir[dir].synced = false
	w.dir[dir].hdrN, w.dir[dir].left = 0, 0
	w.s.gap(dir, ts, -1)
}

func (w *wsConn) closed(dir int, ts time.Time, rst bool) { w.s.closed(dir, ts, rst) }
func (w *wsConn) release() {
	w.s.release()
	w.s.lat.freeze()
	for i := range w.dir {
		w.dir[i].http, w.dir[i].scratch = nil, nil
	}
}
func (w *wsConn) finish(end time.Time) { w.s.finish(end) }
