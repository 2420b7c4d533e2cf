package modbus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Type is how the registers of one value are read.
type Type string

// Types a meter's registers hold. string and bits take any number of
// registers; the others a fixed number (Type.Registers).
const (
	U16    Type = "u16"
	S16    Type = "s16"
	U32    Type = "u32"
	S32    Type = "s32"
	U64    Type = "u64"
	S64    Type = "s64"
	F32    Type = "f32"
	F64    Type = "f64"
	String Type = "string"
	Bits   Type = "bits"
)

// Types lists every type, for help texts and completion.
var Types = []Type{U16, S16, U32, S32, U64, S64, F32, F64, String, Bits}

// ParseType reads a --type value. Besides the short names it takes the
// spellings manuals and other tools use: uint16, int32, float (32 bits),
// double, ascii.
func ParseType(s string) (Type, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "u16", "uint16", "word", "unsigned":
		return U16, nil
	case "s16", "int16", "i16", "signed":
		return S16, nil
	case "u32", "uint32", "dword", "ulong":
		return U32, nil
	case "s32", "int32", "i32", "int", "long":
		return S32, nil
	case "u64", "uint64":
		return U64, nil
	case "s64", "int64", "i64":
		return S64, nil
	case "f32", "float32", "float", "real":
		return F32, nil
	case "f64", "float64", "double":
		return F64, nil
	case "string", "str", "ascii", "text":
		return String, nil
	case "bits", "bit", "bool", "binary":
		return Bits, nil
	}
	return "", fmt.Errorf("type %q: use u16, s16, u32, s32, u64, s64, f32, f64, string or bits", s)
}

// Registers is how many registers one value of the type takes (0 for
// string and bits, which take what --count says).
func (t Type) Registers() int {
	switch t {
	case U16, S16:
		return 1
	case U32, S32, F32:
		return 2
	case U64, S64, F64:
		return 4
	}
	return 0
}

// Wide reports whether the type spans several registers, so that their
// order matters and --order auto is its default.
func (t Type) Wide() bool { return t.Registers() > 1 }

// Float reports an IEEE 754 type.
func (t Type) Float() bool { return t == F32 || t == F64 }

// Numeric reports a type with a number value (not string or bits).
func (t Type) Numeric() bool { return t.Registers() > 0 }

func (t Type) signed() bool { return t == S16 || t == S32 || t == S64 }

// Order is where the bytes of a multi-register value sit. The letters name
// the value's bytes from the most significant (A); the order spells them
// as the registers carry them, first register first, high byte first:
// ABCD is big-endian (the Modbus convention), CDAB swaps the words (low
// word first: Carlo Gavazzi, most Schneider counters, mbpoll's default
// for -t 4:float), BADC swaps the bytes in each word, DCBA is
// little-endian. For 64-bit values CDAB and DCBA reverse all four words,
// as pymodbus's word order Little does.
type Order string

// Orders.
const (
	ABCD      Order = "ABCD"
	CDAB      Order = "CDAB"
	BADC      Order = "BADC"
	DCBA      Order = "DCBA"
	OrderAuto Order = "auto"
)

// Orders lists the four byte orders.
var Orders = []Order{ABCD, CDAB, BADC, DCBA}

// ParseOrder reads a --order value: ABCD, CDAB, BADC, DCBA (any case) or
// auto.
func ParseOrder(s string) (Order, error) {
	switch o := Order(strings.ToUpper(strings.TrimSpace(s))); o {
	case ABCD, CDAB, BADC, DCBA:
		return o, nil
	case "AUTO":
		return OrderAuto, nil
	}
	return "", fmt.Errorf("order %q: use ABCD (big-endian), CDAB (words swapped), BADC (bytes swapped), DCBA (little-endian) or auto", s)
}

// swapsWords reports whether the registers come low word first.
func (o Order) swapsWords() bool { return o == CDAB || o == DCBA }

// swapsBytes reports whether each register carries its bytes low first.
func (o Order) swapsBytes() bool { return o == BADC || o == DCBA }

// bigEndian is the value's bytes, most significant first, from registers
// in order o.
func (o Order) bigEndian(regs []uint16) []byte {
	b := make([]byte, 2*len(regs))
	for i, r := range regs {
		j := i
		if o.swapsWords() {
			j = len(regs) - 1 - i
		}
		if o.swapsBytes() {
			r = r<<8 | r>>8
		}
		binary.BigEndian.PutUint16(b[2*j:], r)
	}
	return b
}

// registers is the inverse of bigEndian: the registers that carry the
// big-endian bytes b in order o.
func (o Order) registers(b []byte) []uint16 {
	regs := make([]uint16, len(b)/2)
	for i := range regs {
		j := i
		if o.swapsWords() {
			j = len(regs) - 1 - i
		}
		r := binary.BigEndian.Uint16(b[2*j:])
		if o.swapsBytes() {
			r = r<<8 | r>>8
		}
		regs[i] = r
	}
	return regs
}

// ErrValue is wrapped by errors of Decode and ParseValue.
var ErrValue = errors.New("bad value")

// Decoded is one value read from registers.
type Decoded struct {
	Type  Type     `json:"type"`
	Order Order    `json:"order"`
	Raw   []uint16 `json:"-"`
	// Number is the value times the scale (NaN for string and bits); it is
	// what plausibility checks look at.
	Number float64 `json:"-"`
	// Text is the value as a person reads it: integers exactly, floats
	// as short as they round-trip, strings without trailing NULs, bits as
	// 0/1 groups.
	Text string `json:"value"`
	// Float reports whether Number comes from an IEEE 754 type, and
	// Denormal whether it is a subnormal one (a sign of a wrong order).
	Float    bool `json:"-"`
	Denormal bool `json:"-"`
}

// Decode reads registers as one value of type t in order o, times scale
// (0 means 1). Numeric types need exactly t.Registers() registers.
func Decode(regs []uint16, t Type, o Order, scale float64) (Decoded, error) {
	if scale == 0 {
		scale = 1
	}
	if o == OrderAuto || o == "" {
		o = ABCD
	}
	d := Decoded{Type: t, Order: o, Raw: regs, Number: math.NaN()}
	if n := t.Registers(); n > 0 && len(regs) != n {
		return d, fmt.Errorf("%w: %s takes %d registers, got %d", ErrValue, t, n, len(regs))
	}
	if len(regs) == 0 {
		return d, fmt.Errorf("%w: no registers", ErrValue)
	}
	b := o.bigEndian(regs)
	switch t {
	case String:
		d.Text = strings.TrimRight(string(b), "\x00 ")
		return d, nil
	case Bits:
		d.Text = bitsText(b)
		return d, nil
	case F32:
		bits := binary.BigEndian.Uint32(b)
		f := float64(math.Float32frombits(bits))
		d.Float, d.Denormal = true, bits&0x7F800000 == 0 && bits&0x007FFFFF != 0
		d.Number = f * scale
		d.Text = strconv.FormatFloat(float64(float32(d.Number)), 'g', -1, 32)
		if scale == 1 {
			d.Text = strconv.FormatFloat(f, 'g', -1, 32)
		}
		return d, nil
	case F64:
		bits := binary.BigEndian.Uint64(b)
		f := math.Float64frombits(bits)
		d.Float, d.Denormal = true, bits&0x7FF0000000000000 == 0 && bits&0x000FFFFFFFFFFFFF != 0
		d.Number = f * scale
		d.Text = strconv.FormatFloat(d.Number, 'g', -1, 64)
		return d, nil
	}
	u := uint64(0)
	for _, c := range b {
		u = u<<8 | uint64(c)
	}
	digits := strconv.FormatUint(u, 10)
	if t.signed() {
		shift := 64 - 8*len(b)
		i := int64(u<<shift) >> shift
		digits = strconv.FormatInt(i, 10)
		d.Number = float64(i) * scale
	} else {
		d.Number = float64(u) * scale
	}
	d.Text = scaledText(digits, scale, d.Number)
	return d, nil
}

// scaledText is an integer's decimal digits times scale, exact when the
// scale is a power of ten (2305 × 0.1 is "230.5", not 230.50000000000003).
func scaledText(digits string, scale, number float64) string {
	if scale == 1 {
		return digits
	}
	k := math.Round(math.Log10(scale))
	if math.Abs(k) > 12 || math.Pow(10, k) != scale {
		return strconv.FormatFloat(number, 'g', -1, 64)
	}
	neg := strings.HasPrefix(digits, "-")
	digits = strings.TrimPrefix(digits, "-")
	if k >= 0 {
		if digits != "0" {
			digits += strings.Repeat("0", int(k))
		}
	} else {
		n := int(-k)
		if len(digits) <= n {
			digits = strings.Repeat("0", n-len(digits)+1) + digits
		}
		digits = digits[:len(digits)-n] + "." + digits[len(digits)-n:]
		digits = strings.TrimRight(strings.TrimRight(digits, "0"), ".")
	}
	if neg && digits != "0" {
		digits = "-" + digits
	}
	return digits
}

// bitsText shows bytes as bits, most significant first, one group of 16
// per register: "0000 0000 0010 1010".
func bitsText(b []byte) string {
	var parts []string
	for i := 0; i+1 < len(b); i += 2 {
		s := fmt.Sprintf("%016b", binary.BigEndian.Uint16(b[i:]))
		parts = append(parts, s[0:4]+" "+s[4:8]+" "+s[8:12]+" "+s[12:16])
	}
	return strings.Join(parts, " | ")
}

// HexWords is registers as hex words, "4366 1999", the raw form every
// value is shown beside.
func HexWords(regs []uint16) string {
	parts := make([]string, len(regs))
	for i, r := range regs {
		parts[i] = fmt.Sprintf("%04X", r)
	}
	return strings.Join(parts, " ")
}
