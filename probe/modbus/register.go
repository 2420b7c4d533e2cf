package modbus

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Table is one of the four Modbus data tables. The zero value, TableUnset,
// means "not said": a plain register number then lands in holding
// registers.
type Table uint8

// Tables, in the order of their Modicon prefixes' meaning.
const (
	TableUnset Table = iota
	TableCoil
	TableDiscrete
	TableInput
	TableHolding
)

// Tables lists the four tables (for help texts and completion).
var Tables = []Table{TableHolding, TableInput, TableCoil, TableDiscrete}

// String is the table's flag value: holding, input, coil, discrete.
func (t Table) String() string {
	switch t {
	case TableCoil:
		return "coil"
	case TableDiscrete:
		return "discrete"
	case TableInput:
		return "input"
	case TableHolding:
		return "holding"
	}
	return "unset"
}

// Noun names one entry of the table in words: "holding register".
func (t Table) Noun() string {
	switch t {
	case TableCoil:
		return "coil"
	case TableDiscrete:
		return "discrete input"
	case TableInput:
		return "input register"
	}
	return "holding register"
}

// or is t, or def when t is unset.
func (t Table) or(def Table) Table {
	if t == TableUnset {
		return def
	}
	return t
}

// ReadFunction is the function code that reads the table.
func (t Table) ReadFunction() byte {
	switch t {
	case TableCoil:
		return FuncReadCoils
	case TableDiscrete:
		return FuncReadDiscreteInputs
	case TableInput:
		return FuncReadInputRegisters
	}
	return FuncReadHoldingRegisters
}

// Bits reports whether the table holds single bits (coils, discrete
// inputs) rather than 16-bit registers.
func (t Table) Bits() bool { return t == TableCoil || t == TableDiscrete }

// Writable reports whether a master may write the table (coils and
// holding registers); inputs are read-only by the protocol.
func (t Table) Writable() bool { return t == TableCoil || t == TableHolding || t == TableUnset }

// modiconDigit is the leading digit of the table's Modicon references.
func (t Table) modiconDigit() byte {
	switch t {
	case TableCoil:
		return '0'
	case TableDiscrete:
		return '1'
	case TableInput:
		return '3'
	}
	return '4'
}

// TableOfFunction is the table a read or write function code addresses
// (TableUnset for functions without one).
func TableOfFunction(fc byte) Table {
	switch fc {
	case FuncReadCoils, FuncWriteSingleCoil, FuncWriteMultipleCoils:
		return TableCoil
	case FuncReadDiscreteInputs:
		return TableDiscrete
	case FuncReadInputRegisters:
		return TableInput
	case FuncReadHoldingRegisters, FuncWriteSingleRegister, FuncWriteMultipleRegisters:
		return TableHolding
	}
	return TableUnset
}

// ParseTable reads a --table value: holding, input, coil or discrete
// (plurals and the long forms "holding-register", "discrete-input" too).
func ParseTable(s string) (Table, error) {
	switch strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), "s") {
	case "holding", "holding-register", "hr":
		return TableHolding, nil
	case "input", "input-register", "ir":
		return TableInput, nil
	case "coil":
		return TableCoil, nil
	case "discrete", "discrete-input", "di":
		return TableDiscrete, nil
	}
	return TableUnset, fmt.Errorf("table %q: use holding, input, coil or discrete", s)
}

// Register is one entry of one table, at its 0-based address on the wire.
type Register struct {
	Table   Table
	Address uint16
}

// ErrBadRegister is wrapped by every error of ParseRegister.
var ErrBadRegister = errors.New("bad register")

// ParseRegister reads the register notation every ectool flag shares
// (`modbus --reg`, scan's `--id-register` and `--probe fcNN:REG`):
//
//   - A Modicon reference picks the table and counts from 1: five digits
//     00001-09999 coils, 10001-19999 discrete inputs, 30001-39999 input
//     and 40001-49999 holding registers; six digits (000001-065536,
//     100001-165536, 300001-365536, 400001-465536) reach every address.
//   - Anything else, a plain decimal 0-65535 or 0x hex, is the 0-based
//     address on the wire, in table (holding when unset).
//
// A Modicon reference that names another table than an explicit table is
// an error, never a silent choice. Five-digit numbers starting 2 or 5-9
// are no Modicon table and so read as plain addresses.
func ParseRegister(s string, table Table) (Register, error) {
	in := strings.TrimSpace(s)
	low := strings.ToLower(in)
	if strings.HasPrefix(low, "0x") {
		v, err := strconv.ParseUint(low[2:], 16, 16)
		if err != nil {
			return Register{}, fmt.Errorf("%w %q: hex addresses are 0x0000 to 0xFFFF", ErrBadRegister, s)
		}
		return Register{Table: table.or(TableHolding), Address: uint16(v)}, nil
	}
	if in == "" || strings.Trim(in, "0123456789") != "" {
		return Register{}, fmt.Errorf("%w %q: give a Modicon reference such as 40001 or 30001, a wire address such as 16, or hex 0x0010", ErrBadRegister, s)
	}
	if t, ref := modiconTable(in[0]), len(in) == 5 || len(in) == 6; ref && t != TableUnset {
		n, _ := strconv.Atoi(in[1:])
		limit := 9999
		if len(in) == 6 {
			limit = 65536
		}
		if n < 1 || n > limit {
			return Register{}, fmt.Errorf("%w %q: %d-digit Modicon references run from %c%0*d to %c%0*d (they count from 1: %c%0*d is %s 0)",
				ErrBadRegister, s, len(in), in[0], len(in)-1, 1, in[0], len(in)-1, limit, in[0], len(in)-1, 1, t.Noun())
		}
		if table != TableUnset && table != t {
			return Register{}, fmt.Errorf("%w %q: that Modicon reference is %s, not %s: drop --table, or give the wire address (%d) with --table %s",
				ErrBadRegister, s, withArticle(t.Noun()), withArticle(table.Noun()), n-1, table)
		}
		return Register{Table: t, Address: uint16(n - 1)}, nil
	}
	v, err := strconv.ParseUint(in, 10, 32)
	if err != nil || v > 0xFFFF {
		return Register{}, fmt.Errorf("%w %q: neither a Modicon reference (40001-49999, 400001-465536, ...) nor a wire address 0-65535", ErrBadRegister, s)
	}
	return Register{Table: table.or(TableHolding), Address: uint16(v)}, nil
}

func withArticle(noun string) string {
	if strings.IndexByte("aeiou", noun[0]) >= 0 {
		return "an " + noun
	}
	return "a " + noun
}

// modiconTable is the table a Modicon reference's first digit names.
func modiconTable(d byte) Table {
	switch d {
	case '0':
		return TableCoil
	case '1':
		return TableDiscrete
	case '3':
		return TableInput
	case '4':
		return TableHolding
	}
	return TableUnset
}

// Reference is the register's Modicon reference: five digits while they
// reach (addresses 0-9998: "40001"), six beyond ("465536").
func (r Register) Reference() string {
	d := r.Table.or(TableHolding).modiconDigit()
	if r.Address <= 9998 {
		return fmt.Sprintf("%c%04d", d, int(r.Address)+1)
	}
	return fmt.Sprintf("%c%05d", d, int(r.Address)+1)
}

// String says both forms back, so nobody guesses the off-by-one:
// "40001 = holding register 0 (0x0000), FC 03".
func (r Register) String() string {
	t := r.Table.or(TableHolding)
	return fmt.Sprintf("%s = %s %d (0x%04X), FC %02d", r.Reference(), t.Noun(), r.Address, r.Address, t.ReadFunction())
}

// Add is the register n entries further in the same table, and false when
// that passes address 65535.
func (r Register) Add(n int) (Register, bool) {
	a := int(r.Address) + n
	if n < 0 || a > 0xFFFF {
		return r, false
	}
	return Register{Table: r.Table, Address: uint16(a)}, true
}
