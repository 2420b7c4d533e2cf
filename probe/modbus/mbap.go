package modbus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// MBAPHeaderLen is the size of the MBAP header that precedes the PDU in
// Modbus TCP: transaction id, protocol id, length, unit id.
const MBAPHeaderLen = 7

// MBAPFrame is one Modbus TCP application data unit.
type MBAPFrame struct {
	Transaction uint16
	Unit        byte
	PDU         PDU
}

// EncodeMBAP builds a Modbus TCP ADU (protocol id 0).
func EncodeMBAP(tx uint16, unit byte, p PDU) []byte {
	b := make([]byte, MBAPHeaderLen, MBAPHeaderLen+1+len(p.Data))
	binary.BigEndian.PutUint16(b[0:], tx)
	binary.BigEndian.PutUint16(b[2:], 0)
	binary.BigEndian.PutUint16(b[4:], uint16(2+len(p.Data)))
	b[6] = unit
	return p.AppendTo(b)
}

// DecodeMBAP decodes the ADU at the start of b and returns it with the number
// of bytes it took. It returns ErrIncomplete when b holds less than the
// length field announces, and ErrMalformed for a protocol id other than 0 or
// a length field outside 2..254 (after which the stream cannot be trusted:
// close the connection). The PDU aliases b.
func DecodeMBAP(b []byte) (MBAPFrame, int, error) {
	if len(b) < MBAPHeaderLen {
		return MBAPFrame{}, 0, ErrIncomplete
	}
	proto := binary.BigEndian.Uint16(b[2:])
	if proto != 0 {
		return MBAPFrame{}, 0, fmt.Errorf("%w: MBAP protocol id %d, want 0", ErrMalformed, proto)
	}
	l := int(binary.BigEndian.Uint16(b[4:]))
	if l < 2 || l > 1+MaxPDU {
		return MBAPFrame{}, 0, fmt.Errorf("%w: MBAP length %d outside 2..%d", ErrMalformed, l, 1+MaxPDU)
	}
	total := 6 + l
	if len(b) < total {
		return MBAPFrame{}, 0, ErrIncomplete
	}
	return MBAPFrame{
		Transaction: binary.BigEndian.Uint16(b),
		Unit:        b[6],
		PDU:         PDU{Function: b[7], Data: b[8:total]},
	}, total, nil
}

// ReadMBAP reads one ADU from r (a TCP connection with a deadline set).
func ReadMBAP(r io.Reader) (MBAPFrame, error) {
	hdr := make([]byte, MBAPHeaderLen, MBAPHeaderLen+MaxPDU)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return MBAPFrame{}, err
	}
	if _, _, err := DecodeMBAP(hdr); !errors.Is(err, ErrIncomplete) {
		if err == nil { // length 1: unit id only, impossible
			err = fmt.Errorf("%w: MBAP frame without a function code", ErrMalformed)
		}
		return MBAPFrame{}, err
	}
	l := int(binary.BigEndian.Uint16(hdr[4:]))
	buf := hdr[:6+l]
	if _, err := io.ReadFull(r, buf[MBAPHeaderLen:]); err != nil {
		return MBAPFrame{}, fmt.Errorf("MBAP frame cut short: %w", err)
	}
	f, _, err := DecodeMBAP(buf)
	return f, err
}

// CheckPDULen reports whether a decoded PDU has the length its function code
// implies (when the code's framing is known). A gateway that pads or cuts
// answers shows here.
func CheckPDULen(p PDU, dir Direction) error {
	n, err := PDULen(p.Bytes(), dir)
	if err != nil {
		return err
	}
	if n != 1+len(p.Data) {
		return fmt.Errorf("%w: function 0x%02X declares %d bytes, PDU has %d", ErrMalformed, p.Function, n, 1+len(p.Data))
	}
	return nil
}
