package modbus

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
)

// ParseValue reads the --value text of a register write as type t in
// order o, divided by scale (0 means 1), and returns the registers to
// send. Numeric types take a comma list for consecutive values
// ("1,2,3"); an integer is decimal (exact: with --scale 0.1, "230.5" is
// 2305, "230.55" an error) or 0x hex (the raw content, no scale); floats
// must be finite. A string is ASCII, padded with NULs to count registers
// (0: as many as it needs). bits are 16 binary digits per register
// ("0000 0000 0010 1010", "0b101010" for one register).
func ParseValue(text string, t Type, o Order, scale float64, count int) ([]uint16, error) {
	if scale == 0 {
		scale = 1
	}
	if o == OrderAuto || o == "" {
		o = ABCD
	}
	if math.IsNaN(scale) || math.IsInf(scale, 0) {
		return nil, fmt.Errorf("%w: scale %v is not a number", ErrValue, scale)
	}
	switch t {
	case String:
		b, err := stringBytes(text, count)
		if err != nil {
			return nil, err
		}
		return o.registers(b), nil
	case Bits:
		b, err := bitBytes(text)
		if err != nil {
			return nil, err
		}
		return o.registers(b), nil
	}
	if t.Registers() == 0 {
		return nil, fmt.Errorf("%w: unknown type %q", ErrValue, t)
	}
	var regs []uint16
	for _, part := range strings.Split(text, ",") {
		b, err := numberBytes(strings.TrimSpace(part), t, scale)
		if err != nil {
			return nil, err
		}
		regs = append(regs, o.registers(b)...)
	}
	if len(regs) > MaxWriteRegisters {
		return nil, fmt.Errorf("%w: %d registers do not fit one write (at most %d)", ErrValue, len(regs), MaxWriteRegisters)
	}
	return regs, nil
}

// numberBytes is one number's big-endian bytes in type t.
func numberBytes(s string, t Type, scale float64) ([]byte, error) {
	if s == "" {
		return nil, fmt.Errorf("%w: empty value", ErrValue)
	}
	width := 2 * t.Registers()
	b := make([]byte, width)
	if t.Float() {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || strings.ContainsAny(s, "xXpP_") {
			return nil, fmt.Errorf("%w %q: want a finite decimal number such as 230.5 or -1.5e3", ErrValue, s)
		}
		f /= scale
		if t == F32 {
			if math.Abs(f) > math.MaxFloat32 {
				return nil, fmt.Errorf("%w %q: beyond the range of a 32-bit float (±3.4e38)", ErrValue, s)
			}
			binary.BigEndian.PutUint32(b, math.Float32bits(float32(f)))
		} else {
			binary.BigEndian.PutUint64(b, math.Float64bits(f))
		}
		return b, nil
	}
	bits := uint(8 * width)
	if low := strings.ToLower(s); strings.HasPrefix(low, "0x") {
		if scale != 1 {
			return nil, fmt.Errorf("%w %q: a hex value is the raw register content: drop --scale", ErrValue, s)
		}
		u, err := strconv.ParseUint(low[2:], 16, int(bits))
		if err != nil || strings.HasPrefix(low[2:], "+") {
			return nil, fmt.Errorf("%w %q: hex for %s is 0x0 to 0x%X", ErrValue, s, t, uint64(math.MaxUint64)>>(64-bits))
		}
		putUint(b, u)
		return b, nil
	}
	n, err := exactInteger(s, scale)
	if err != nil {
		return nil, err
	}
	lo, hi := new(big.Int), new(big.Int).Lsh(big.NewInt(1), bits) // unsigned: [0, 2^bits)
	if t.signed() {
		lo.Neg(new(big.Int).Lsh(big.NewInt(1), bits-1)) // [-2^(bits-1), 2^(bits-1))
		hi.Lsh(big.NewInt(1), bits-1)
	}
	if n.Cmp(lo) < 0 || n.Cmp(hi) >= 0 {
		return nil, fmt.Errorf("%w %q: %s holds %s to %s%s", ErrValue, s, t, lo, new(big.Int).Sub(hi, big.NewInt(1)), scaleNote(scale))
	}
	if n.Sign() < 0 {
		n.Add(n, new(big.Int).Lsh(big.NewInt(1), bits)) // two's complement
	}
	putUint(b, n.Uint64())
	return b, nil
}

// decimalNumber is a decimal with an optional exponent (its group 1).
var decimalNumber = regexp.MustCompile(`^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE]([+-]?[0-9]{1,4}))?$`)

// exactInteger is s divided by scale, which must come out whole: a
// register holds 2305 for 230.5 V at scale 0.1, never 2305.5.
func exactInteger(s string, scale float64) (*big.Int, error) {
	m := decimalNumber.FindStringSubmatch(s)
	if m == nil || len(s) > 64 {
		return nil, fmt.Errorf("%w %q: want a whole number such as 230, or a decimal with --scale", ErrValue, s)
	}
	// A huge exponent would have big.Rat compute 10^n: no register
	// value needs more than a few dozen digits.
	if e, _ := strconv.Atoi(m[1]); m[1] != "" && (e > 40 || e < -40) {
		return nil, fmt.Errorf("%w %q: the exponent is out of any register's range", ErrValue, s)
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return nil, fmt.Errorf("%w %q: want a whole number such as 230, or a decimal with --scale", ErrValue, s)
	}
	if scale != 1 {
		// The scale as written (0.1), not its nearest binary float.
		sr, _ := new(big.Rat).SetString(strconv.FormatFloat(scale, 'g', -1, 64))
		r.Quo(r, sr)
	}
	if !r.IsInt() {
		f, _ := r.Float64()
		return nil, fmt.Errorf("%w %q: that is %g in register units%s, not a whole number", ErrValue, s, f, scaleNote(scale))
	}
	return new(big.Int).Set(r.Num()), nil
}

func scaleNote(scale float64) string {
	if scale == 1 {
		return ""
	}
	return fmt.Sprintf(" (at --scale %g)", scale)
}

func putUint(b []byte, u uint64) {
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = byte(u)
		u >>= 8
	}
}

// stringBytes is ASCII text padded with NULs to count registers.
func stringBytes(s string, count int) ([]byte, error) {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7E {
			return nil, fmt.Errorf("%w %q: a register string takes printable ASCII only", ErrValue, s)
		}
	}
	n := (len(s) + 1) / 2
	if count > 0 {
		if n > count {
			return nil, fmt.Errorf("%w %q: %d characters do not fit %d registers (2 per register)", ErrValue, s, len(s), count)
		}
		n = count
	}
	if n == 0 || n > MaxWriteRegisters {
		return nil, fmt.Errorf("%w %q: a string write takes 1 to %d registers", ErrValue, s, MaxWriteRegisters)
	}
	b := make([]byte, 2*n)
	copy(b, s)
	return b, nil
}

// bitBytes reads 16 binary digits per register, most significant first.
func bitBytes(s string) ([]byte, error) {
	digits := strings.NewReplacer(" ", "", "|", "", "_", "").Replace(strings.TrimPrefix(strings.TrimSpace(s), "0b"))
	if strings.Trim(digits, "01") != "" || digits == "" {
		return nil, fmt.Errorf("%w %q: bits are binary digits, 16 per register (0000 0000 0010 1010, or 0b101010 for one register)", ErrValue, s)
	}
	if len(digits) < 16 {
		digits = strings.Repeat("0", 16-len(digits)) + digits
	}
	if len(digits)%16 != 0 || len(digits) > 16*MaxWriteRegisters {
		return nil, fmt.Errorf("%w %q: %d binary digits are not whole registers of 16", ErrValue, s, len(digits))
	}
	b := make([]byte, len(digits)/8)
	for i, c := range digits {
		if c == '1' {
			b[i/8] |= 0x80 >> (i % 8)
		}
	}
	return b, nil
}

// ParseCoils reads the --value of a coil write: a comma list of 1/0,
// on/off or true/false.
func ParseCoils(text string) ([]bool, error) {
	var out []bool
	for _, part := range strings.Split(text, ",") {
		switch strings.ToLower(strings.TrimSpace(part)) {
		case "1", "on", "true":
			out = append(out, true)
		case "0", "off", "false":
			out = append(out, false)
		default:
			return nil, fmt.Errorf("%w %q: a coil is 1 or 0 (on/off, true/false), several as a comma list", ErrValue, part)
		}
	}
	if len(out) > MaxWriteCoils {
		return nil, fmt.Errorf("%w: %d coils do not fit one write (at most %d)", ErrValue, len(out), MaxWriteCoils)
	}
	return out, nil
}

// EncodeNumber is the registers that carry v, a value in the scaled unit,
// as type t in order o: v divided by scale (0 means 1), rounded to the
// nearest integer for integer types. A value the type cannot hold is an
// error. The lab's meters serve their profiles' quantities with it.
func EncodeNumber(v float64, t Type, o Order, scale float64) ([]uint16, error) {
	if scale == 0 {
		scale = 1
	}
	if o == OrderAuto || o == "" {
		o = ABCD
	}
	raw := v / scale
	b := make([]byte, 2*t.Registers())
	switch {
	case !t.Numeric():
		return nil, fmt.Errorf("%w: %s is not a number type", ErrValue, t)
	case math.IsNaN(raw) || math.IsInf(raw, 0):
		return nil, fmt.Errorf("%w: %g is not a finite number", ErrValue, v)
	case t == F32:
		if math.Abs(raw) > math.MaxFloat32 {
			return nil, fmt.Errorf("%w: %g is beyond a 32-bit float", ErrValue, v)
		}
		binary.BigEndian.PutUint32(b, math.Float32bits(float32(raw)))
	case t == F64:
		binary.BigEndian.PutUint64(b, math.Float64bits(raw))
	default:
		bits := 8 * len(b)
		r := math.Round(raw)
		lo, hi := 0.0, math.Ldexp(1, bits) // [lo, hi)
		if t.signed() {
			lo, hi = -math.Ldexp(1, bits-1), math.Ldexp(1, bits-1)
		}
		if r < lo || r >= hi {
			return nil, fmt.Errorf("%w: %g at scale %g does not fit %s", ErrValue, v, scale, t)
		}
		if r < 0 {
			putUint(b, uint64(int64(r)))
		} else {
			putUint(b, uint64(r))
		}
	}
	return o.registers(b), nil
}
