package modbus

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

// Meter profiles are data: one YAML file per meter in profiles/, embedded
// in the binary; adding a meter is adding a file (see profiles/sdm630.yaml
// and TestEveryProfileIsValid). YAML rather than JSON because a profile is
// copied from a manual's register table by hand: comments carry the why
// (the manual counts from 1, this meter's words are swapped), and one flow
// line per quantity reads like the table's row.
//
//go:embed profiles/*.yaml
var profileFiles embed.FS

// Quantity ids: the named quantities a profile may map. Single-phase
// meters use voltage and current; three-phase ones the _l1.._l3 forms.
var QuantityIDs = []string{
	"voltage", "voltage_l1", "voltage_l2", "voltage_l3",
	"current", "current_l1", "current_l2", "current_l3",
	"power", "power_l1", "power_l2", "power_l3",
	"power_factor", "frequency", "energy_import", "energy_export",
}

// Units a profile may give, by the quantity id's first word.
var quantityUnits = map[string][]string{
	"voltage":      {"V"},
	"current":      {"A"},
	"power":        {"W", "kW"},
	"power_factor": {""},
	"frequency":    {"Hz"},
	"energy":       {"Wh", "kWh"},
}

// Units is the fixed list of units a profile may use ("" is dimensionless).
var Units = []string{"V", "A", "W", "kW", "Hz", "Wh", "kWh", ""}

// Profile is one meter's register map.
type Profile struct {
	// Name is what --meter takes, the file's name without .yaml.
	Name   string `yaml:"name" json:"name"`
	Title  string `yaml:"title" json:"title"`
	Vendor string `yaml:"vendor" json:"vendor"`
	// Match is the FC 0x2B vendor and product (prefixes, any case) that
	// pick this profile when no --meter is given.
	Match  ProfileMatch `yaml:"match" json:"match"`
	Source Source       `yaml:"source" json:"source"`
	// Verified is false until someone checked the profile against a real
	// meter.
	Verified *bool `yaml:"verified" json:"verified"`
	// Serial is where the meter keeps its serial number, when known.
	Serial     *Field     `yaml:"serial,omitempty" json:"serial,omitempty"`
	Quantities []Quantity `yaml:"quantities" json:"quantities"`
}

// ProfileMatch names the identities a profile is for.
type ProfileMatch struct {
	Vendor  []string `yaml:"vendor" json:"vendor"`
	Product []string `yaml:"product" json:"product"`
}

// Source is the maker's manual a profile was copied from.
type Source struct {
	Title   string `yaml:"title" json:"title"`
	Version string `yaml:"version" json:"version"`
	Section string `yaml:"section" json:"section"`
}

// Field is where a value sits and how it is encoded.
type Field struct {
	// Register is in ParseRegister's notation, in Function's table.
	Register string `yaml:"register" json:"register"`
	Function byte   `yaml:"function" json:"function"`
	// Count is the registers the manual gives the value; it must equal
	// the type's width.
	Count int   `yaml:"count" json:"count"`
	Type  Type  `yaml:"type" json:"type"`
	Order Order `yaml:"order" json:"order"`
}

// Quantity is one named, scaled value of a meter.
type Quantity struct {
	ID    string `yaml:"id" json:"id"`
	Name  string `yaml:"name" json:"name"`
	Field `yaml:",inline"`
	// Scale multiplies the decoded number into Unit.
	Scale float64 `yaml:"scale" json:"scale"`
	Unit  string  `yaml:"unit" json:"unit"`
	// Range is the plausible [min, max] of the scaled value; --order auto
	// drops orders that leave it.
	Range []float64 `yaml:"range" json:"range"`
}

// Reg is the field's register, parsed. Valid profiles always parse.
func (f Field) Reg() Register {
	r, _ := ParseRegister(f.Register, TableOfFunction(f.Function))
	return r
}

// Expect is what a plausible reading of the quantity looks like.
func (q Quantity) Expect() Expect {
	e := Expect{Counter: strings.HasPrefix(q.ID, "energy_"), Documented: q.Order}
	if len(q.Range) == 2 {
		e.Min, e.Max, e.HasRange = q.Range[0], q.Range[1], true
	}
	return e
}

// Quantity returns the profile's quantity id (nil when it has none).
func (p *Profile) Quantity(id string) *Quantity {
	for i := range p.Quantities {
		if p.Quantities[i].ID == id {
			return &p.Quantities[i]
		}
	}
	return nil
}

// QuantityAt returns the quantity whose first register is r (nil when
// none).
func (p *Profile) QuantityAt(r Register) *Quantity {
	for i := range p.Quantities {
		if p.Quantities[i].Reg() == r {
			return &p.Quantities[i]
		}
	}
	return nil
}

// ErrNoProfile is returned for a --meter name no profile has.
var ErrNoProfile = errors.New("no meter profile")

var loadProfiles = sync.OnceValues(func() ([]*Profile, error) {
	files, _ := profileFiles.ReadDir("profiles")
	var out []*Profile
	var errs []error
	for _, f := range files {
		data, _ := profileFiles.ReadFile("profiles/" + f.Name())
		p, err := ParseProfile(strings.TrimSuffix(f.Name(), ".yaml"), data)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, errors.Join(errs...)
})

// Profiles are the embedded meter profiles, by name. The error lists
// embedded files that do not validate (a build defect the profile test
// catches first).
func Profiles() ([]*Profile, error) { return loadProfiles() }

// ProfileByName returns the profile --meter names (any case).
func ProfileByName(name string) (*Profile, error) {
	ps, _ := Profiles()
	var names []string
	for _, p := range ps {
		if strings.EqualFold(p.Name, strings.TrimSpace(name)) {
			return p, nil
		}
		names = append(names, p.Name)
	}
	return nil, fmt.Errorf("%w %q: ectool knows %s (ectool modbus profiles lists them)", ErrNoProfile, name, strings.Join(names, ", "))
}

// ProfileFor returns the profile whose match names vendor and product as
// a meter reports them in FC 0x2B (nil when none does).
func ProfileFor(vendor, product string) *Profile {
	ps, _ := Profiles()
	prefixed := func(s string, prefixes []string) bool {
		for _, p := range prefixes {
			if strings.HasPrefix(strings.ToLower(strings.TrimSpace(s)), strings.ToLower(p)) {
				return true
			}
		}
		return false
	}
	for _, p := range ps {
		if prefixed(vendor, p.Match.Vendor) && prefixed(product, p.Match.Product) {
			return p
		}
	}
	return nil
}

var profileName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

// ParseProfile reads one profile file and validates it: the schema (no
// unknown keys, nothing required missing), every register in its
// function's table, type widths equal to register counts, no two values
// sharing a register, units from the fixed list and fitting the quantity,
// a source. name is the file's name without .yaml.
func ParseProfile(name string, data []byte) (*Profile, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var p Profile
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("profile %s: %w", name, err)
	}
	if errs := p.validate(name); len(errs) > 0 {
		return nil, fmt.Errorf("profile %s: %w", name, errors.Join(errs...))
	}
	return &p, nil
}

func (p *Profile) validate(file string) []error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if p.Name != file || !profileName.MatchString(p.Name) {
		bad("name %q must be the file's name (%s) in lower case", p.Name, file)
	}
	if p.Title == "" || p.Vendor == "" {
		bad("title and vendor are required")
	}
	if p.Source.Title == "" || p.Source.Version == "" || p.Source.Section == "" {
		bad("source needs the manual's title, version and section")
	}
	if p.Verified == nil {
		bad("verified is required (false until checked against a real meter)")
	}
	if len(p.Quantities) == 0 {
		bad("no quantities")
	}
	var spans []span
	if p.Serial != nil {
		if err := p.Serial.validate(); err != nil {
			bad("serial: %v", err)
		} else if !slices.Contains([]Type{U32, U64, String}, p.Serial.Type) {
			bad("serial: type %s; a serial number is u32, u64 or string", p.Serial.Type)
		} else {
			spans = append(spans, newSpan("serial", p.Serial))
		}
	}
	seen := map[string]bool{}
	for _, q := range p.Quantities {
		if seen[q.ID] {
			bad("quantity %s appears twice", q.ID)
		}
		seen[q.ID] = true
		if err := q.validate(); err != nil {
			bad("quantity %s: %v", q.ID, err)
			continue
		}
		spans = append(spans, newSpan(q.ID, &q.Field))
	}
	for i, a := range spans {
		for _, b := range spans[i+1:] {
			if a.table == b.table && a.lo < b.hi && b.lo < a.hi {
				bad("%s and %s share %s", a.id, b.id, Register{Table: a.table, Address: uint16(max(a.lo, b.lo))})
			}
		}
	}
	return errs
}

func (f *Field) validate() error {
	if f.Function < FuncReadCoils || f.Function > FuncReadInputRegisters || TableOfFunction(f.Function).Bits() {
		return fmt.Errorf("function %d: a profile value is read with 3 or 4", f.Function)
	}
	r, err := ParseRegister(f.Register, TableOfFunction(f.Function))
	if err != nil {
		return err
	}
	if _, err := ParseType(string(f.Type)); err != nil || Type(strings.ToLower(string(f.Type))) != f.Type {
		return fmt.Errorf("type %q: use one of %v", f.Type, Types)
	}
	if w := f.Type.Registers(); (w > 0 && f.Count != w) || f.Count < 1 {
		return fmt.Errorf("count %d registers, but %s takes %d", f.Count, f.Type, w)
	}
	if int(r.Address)+f.Count > 0x10000 {
		return fmt.Errorf("%d registers from %s pass address 65535", f.Count, r)
	}
	if !slices.Contains(Orders, f.Order) {
		return fmt.Errorf("order %q: use ABCD, CDAB, BADC or DCBA", f.Order)
	}
	if !f.Type.Wide() && f.Type.Numeric() && f.Order.swapsWords() {
		return fmt.Errorf("order %s: a one-register value has no word order (ABCD or BADC)", f.Order)
	}
	return nil
}

func (q *Quantity) validate() error {
	if !slices.Contains(QuantityIDs, q.ID) {
		return fmt.Errorf("unknown id; quantities are %s", strings.Join(QuantityIDs, ", "))
	}
	if q.Name == "" {
		return errors.New("name is required")
	}
	if err := q.Field.validate(); err != nil {
		return err
	}
	if !q.Type.Numeric() {
		return fmt.Errorf("type %s: a quantity is a number", q.Type)
	}
	if q.Scale <= 0 {
		return fmt.Errorf("scale %g: give the factor to the unit (1 when none)", q.Scale)
	}
	if !slices.Contains(Units, q.Unit) {
		return fmt.Errorf("unit %q: use one of %q", q.Unit, Units)
	}
	kind := q.ID
	if k, _, ok := strings.Cut(q.ID, "_"); ok && q.ID != "power_factor" {
		kind = k
	}
	if !slices.Contains(quantityUnits[kind], q.Unit) {
		return fmt.Errorf("unit %q does not measure %s (%q)", q.Unit, kind, quantityUnits[kind])
	}
	if len(q.Range) != 2 || q.Range[0] >= q.Range[1] {
		return fmt.Errorf("range %v: give [min, max] of a plausible reading", q.Range)
	}
	return nil
}

// span is the registers one value occupies in one table.
type span struct {
	id     string
	table  Table
	lo, hi int
}

func newSpan(id string, f *Field) span {
	r := f.Reg()
	return span{id: id, table: r.Table, lo: int(r.Address), hi: int(r.Address) + f.Count}
}

// ProfileFile is the embedded file a profile came from (for `modbus
// profiles`).
func ProfileFile(p *Profile) string { return path.Join("probe/modbus/profiles", p.Name+".yaml") }
