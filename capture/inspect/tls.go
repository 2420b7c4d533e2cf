package inspect

import (
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"time"
)

// TLSInfo is what a TLS connection shows without its keys: the hello
// messages, alerts sent in clear, timing and how it ended. Decrypting is
// out of scope (Wireshark with the peers' key log does it).
type TLSInfo struct {
	SNI             string     `json:"sni"`
	VersionsOffered []string   `json:"versions_offered"`
	Version         string     `json:"version"`
	ALPNOffered     []string   `json:"alpn_offered"`
	ALPN            string     `json:"alpn"`
	CipherSuite     string     `json:"cipher_suite"`
	HandshakeMS     *float64   `json:"handshake_ms"`
	Complete        bool       `json:"handshake_complete"`
	ClientCertAsked bool       `json:"client_certificate_requested"`
	Alerts          []TLSAlert `json:"alerts"`
}

// TLSAlert is one alert record.
type TLSAlert struct {
	Time  Stamp  `json:"time"`
	From  string `json:"from"`
	Level string `json:"level"` // warning, fatal, or encrypted
	// Description in words (close_notify, bad_certificate, unknown_ca, ...);
	// "encrypted" when it was sent after the keys changed.
	Description string `json:"description"`
}

// tlsConn follows a TLS connection's records.
type tlsConn struct {
	c     *conn
	an    *analysis
	info  *Connection
	tls   TLSInfo
	dir   [2]tlsDir
	hello time.Time
	v13   bool
	done  bool
	// closedBy: who closed the connection before the handshake completed.
	closedBy string
	// rejected: a TLS 1.3 client sent an encrypted alert instead of its
	// Finished.
	rejected bool
}

type tlsDir struct {
	synced    bool
	hdr       [5]byte
	hdrN      int
	typ       byte
	recLen    int
	left      int
	body      []byte // record body being kept (handshake, alert, CCS)
	keep      bool
	hs        []byte // handshake messages across records
	encrypted bool   // keys changed: records are opaque
	ccs       bool
}

const maxTLSRecord = 16384 + 2048

func newTLSConn(c *conn) *tlsConn {
	t := &tlsConn{c: c, an: c.d.an}
	t.info = c.d.an.newConnection(c, ProtoTLS)
	t.info.TLS = &t.tls
	for i := range t.dir {
		t.dir[i].synced = c.half[i].aligned
	}
	return t
}

func (t *tlsConn) data(dir int, ts time.Time, b []byte) {
	st := &t.dir[dir]
	if !st.synced {
		if !looksLikeTLS(b) {
			return
		}
		st.synced = true
		// Joined mid-way: the handshake is not in the capture.
		st.encrypted = true
	}
	for len(b) > 0 {
		if st.left == 0 && st.hdrN < 5 {
			n := copy(st.hdr[st.hdrN:], b)
			st.hdrN += n
			b = b[n:]
			if st.hdrN < 5 {
				return
			}
			st.typ = st.hdr[0]
			st.left = int(binary.BigEndian.Uint16(st.hdr[3:]))
			st.recLen = st.left
			if st.typ < 20 || st.typ > 24 || st.hdr[1] != 3 || st.left > maxTLSRecord {
				// Not TLS (or lost): stop reading this direction.
				st.synced, st.hdrN, st.left = false, 0, 0
				return
			}
			st.keep = st.typ != 23 && !(st.encrypted && st.typ == 22)
			st.body = st.body[:0]
			if st.left == 0 {
				t.record(dir, st, ts)
			}
			continue
		}
		n := min(st.left, len(b))
		if st.keep {
			st.body = append(st.body, b[:n]...)
		}
		st.left -= n
		b = b[n:]
		if st.left == 0 {
			t.record(dir, st, ts)
		}
	}
}

// record handles one whole record.
func (t *tlsConn) record(dir int, st *tlsDir, ts time.Time) {
	st.hdrN = 0
	switch st.typ {
	case 20: // change_cipher_spec
		st.ccs = true
		if !t.v13 {
			st.encrypted = true
		}
		if !t.v13 && t.dir[0].ccs && t.dir[1].ccs {
			t.handshakeDone(ts)
		}
	case 21:
		t.alert(dir, st, ts)
	case 22:
		if !st.encrypted {
			st.hs = append(st.hs, st.body...)
			t.handshakeMessages(dir, st, ts)
		}
	case 23:
		if t.v13 && dir == toBroker && !t.done && !t.hello.IsZero() {
			// TLS 1.3: the client's first encrypted record after the
			// ServerHello carries its Finished, or an alert when it
			// rejects the broker: an alert is 2 bytes, its record 19 with
			// the content type and the AEAD tag; a Finished is longer.
			if st.recLen <= 24 {
				t.addAlert(TLSAlert{Time: Stamp(ts), From: byName(dir), Level: "encrypted",
					Description: "encrypted alert during the handshake (the client rejected the broker: its certificate, most often)"})
				t.rejected = true
				return
			}
			t.handshakeDone(ts)
		}
	}
}

func (t *tlsConn) handshakeDone(ts time.Time) {
	if t.done {
		return
	}
	t.done = true
	t.tls.Complete = true
	if !t.hello.IsZero() {
		ms := msSince(t.hello, ts)
		t.tls.HandshakeMS = &ms
	}
}

func (t *tlsConn) alert(dir int, st *tlsDir, ts time.Time) {
	a := TLSAlert{Time: Stamp(ts), From: byName(dir)}
	// An alert in clear is 2 bytes (level, description); an encrypted one
	// carries a MAC or an AEAD tag besides. So a 2-byte alert record is in
	// clear even after the keys changed or on a connection joined mid-way
	// (a broker answering a half-open probe), as tshark reads it.
	if len(st.body) != 2 && (st.encrypted || len(st.body) < 2) {
		a.Level, a.Description = "encrypted", "encrypted"
	} else {
		a.Level = "warning"
		if st.body[0] == 2 {
			a.Level = "fatal"
		}
		a.Description = alertText(st.body[1])
	}
	t.addAlert(a)
	if a.Level == "fatal" || (a.Level == "warning" && a.Description != "close_notify" && a.Description != "user_canceled") {
		t.an.tlsProblem(t, ts, fmt.Sprintf("%s sent a %s alert: %s", a.From, a.Level, a.Description))
	}
}

func (t *tlsConn) addAlert(a TLSAlert) {
	if len(t.tls.Alerts) < 16 {
		t.tls.Alerts = append(t.tls.Alerts, a)
	}
}

// handshakeMessages parses the clear handshake messages gathered so far.
func (t *tlsConn) handshakeMessages(dir int, st *tlsDir, ts time.Time) {
	for len(st.hs) >= 4 {
		n := int(st.hs[1])<<16 | int(st.hs[2])<<8 | int(st.hs[3])
		if n > 1<<16 {
			st.hs = st.hs[:0]
			return
		}
		if len(st.hs) < 4+n {
			return
		}
		msg := st.hs[4 : 4+n]
		switch st.hs[0] {
		case 1:
			t.hello = ts
			t.clientHello(msg)
		case 2:
			t.serverHello(msg)
			if t.v13 {
				// Everything after the ServerHello is encrypted.
				st.encrypted = true
			}
		case 13:
			t.tls.ClientCertAsked = true
		}
		st.hs = st.hs[4+n:]
	}
}

func (t *tlsConn) clientHello(m []byte) {
	if len(m) < 38 {
		return
	}
	legacy := binary.BigEndian.Uint16(m)
	p := m[34:]
	p = skipVec(p, 1) // session id
	p = skipVec(p, 2) // cipher suites
	p = skipVec(p, 1) // compression
	versions := []string{}
	forEachExt(p, func(typ uint16, ext []byte) {
		switch typ {
		case 0: // server_name
			if len(ext) >= 5 && ext[2] == 0 {
				n := int(binary.BigEndian.Uint16(ext[3:]))
				if 5+n <= len(ext) {
					t.tls.SNI = string(ext[5 : 5+n])
				}
			}
		case 16: // ALPN
			if len(ext) >= 2 {
				l := ext[2:]
				for len(l) > 0 && int(l[0])+1 <= len(l) {
					t.tls.ALPNOffered = append(t.tls.ALPNOffered, string(l[1:1+l[0]]))
					l = l[1+l[0]:]
				}
			}
		case 43: // supported_versions
			if len(ext) >= 1 {
				l := ext[1:]
				for len(l) >= 2 {
					if v := binary.BigEndian.Uint16(l); v&0x0f0f != 0x0a0a { // skip GREASE
						versions = append(versions, versionText(v))
					}
					l = l[2:]
				}
			}
		}
	})
	if len(versions) == 0 {
		versions = append(versions, versionText(legacy))
	}
	t.tls.VersionsOffered = versions
}

func (t *tlsConn) serverHello(m []byte) {
	if len(m) < 38 {
		return
	}
	v := binary.BigEndian.Uint16(m)
	p := skipVec(m[34:], 1)
	if len(p) >= 2 {
		t.tls.CipherSuite = tls.CipherSuiteName(binary.BigEndian.Uint16(p))
	}
	if len(p) >= 3 {
		p = p[3:]
	} else {
		p = nil
	}
	forEachExt(p, func(typ uint16, ext []byte) {
		switch typ {
		case 43:
			if len(ext) >= 2 {
				v = binary.BigEndian.Uint16(ext)
			}
		case 16:
			if len(ext) >= 3 && int(ext[2])+3 <= len(ext) {
				t.tls.ALPN = string(ext[3 : 3+ext[2]])
			}
		}
	})
	t.tls.Version = versionText(v)
	t.v13 = v == tls.VersionTLS13
}

func skipVec(p []byte, lenBytes int) []byte {
	if len(p) < lenBytes {
		return nil
	}
	n := int(p[0])
	if lenBytes == 2 {
		n = int(binary.BigEndian.Uint16(p))
	}
	if lenBytes+n > len(p) {
		return nil
	}
	return p[lenBytes+n:]
}

func forEachExt(p []byte, fn func(uint16, []byte)) {
	if len(p) < 2 {
		return
	}
	n := int(binary.BigEndian.Uint16(p))
	p = p[2:]
	if n < len(p) {
		p = p[:n]
	}
	for len(p) >= 4 {
		typ := binary.BigEndian.Uint16(p)
		l := int(binary.BigEndian.Uint16(p[2:]))
		if 4+l > len(p) {
			return
		}
		fn(typ, p[4:4+l])
		p = p[4+l:]
	}
}

func versionText(v uint16) string {
	switch v {
	case 0x0300:
		return "SSL 3.0"
	case tls.VersionTLS10:
		return "1.0"
	case tls.VersionTLS11:
		return "1.1"
	case tls.VersionTLS12:
		return "1.2"
	case tls.VersionTLS13:
		return "1.3"
	}
	return fmt.Sprintf("0x%04x", v)
}

// alertText is a TLS alert description in the RFC's words.
func alertText(d byte) string {
	names := map[byte]string{0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 22: "record_overflow",
		40: "handshake_failure", 42: "bad_certificate", 43: "unsupported_certificate", 44: "certificate_revoked",
		45: "certificate_expired", 46: "certificate_unknown", 47: "illegal_parameter", 48: "unknown_ca",
		49: "access_denied", 50: "decode_error", 51: "decrypt_error", 70: "protocol_version",
		71: "insufficient_security", 80: "internal_error", 86: "inappropriate_fallback", 90: "user_canceled",
		109: "missing_extension", 110: "unsupported_extension", 112: "unrecognized_name",
		113: "bad_certificate_status_response", 115: "unknown_psk_identity", 116: "certificate_required",
		120: "no_application_protocol"}
	if s, ok := names[d]; ok {
		return s
	}
	return fmt.Sprintf("alert %d", d)
}

func (t *tlsConn) gap(dir int, ts time.Time, n int) {
	st := &t.dir[dir]
	st.synced, st.hdrN, st.left = false, 0, 0
	st.hs = st.hs[:0]
}

func (t *tlsConn) closed(dir int, ts time.Time, rst bool) {
	in := t.info
	if in.End.How == "" {
		how := "fin"
		if rst {
			how = "rst"
		}
		in.End = End{How: how, By: byName(dir), Time: Stamp(ts)}
	}
	if !t.done && t.closedBy == "" && (!t.hello.IsZero() || t.c.half[toBroker].aligned) {
		t.closedBy = byName(dir)
		what := "closed"
		if rst {
			what = "reset"
		}
		stage := "before the ClientHello"
		if !t.hello.IsZero() {
			stage = "after the ClientHello"
			if t.tls.Version != "" {
				stage = "after the ServerHello"
			}
		}
		why := ""
		if t.rejected {
			why = " (after an encrypted alert from the client: it rejected the broker, most often its certificate)"
		}
		t.an.tlsProblem(t, ts, fmt.Sprintf("the handshake did not complete: the %s %s the connection %s%s", t.closedBy, what, stage, why))
	}
}

func (t *tlsConn) release() {
	for i := range t.dir {
		t.dir[i].body, t.dir[i].hs = nil, nil
	}
}

func (t *tlsConn) finish(end time.Time) {
	in := t.info
	if in.End.How == "" {
		in.End = End{How: "capture_end", Time: Stamp(end)}
	}
	in.DurationMS = msSince(in.Start.T(), in.End.Time.T())
	if in.DurationMS < 0 {
		in.DurationMS = 0
	}
	t.release()
	t.an.connDone(t.c, in)
}
