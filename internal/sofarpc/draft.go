package sofarpc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"
)

// draft walks the Hessian 2 draft that Java hessian 3.1.3 and hessian.js-1
// (sofa-hessian-node's default "3.0") write: class definitions 'O' with a
// raw type name, instances 'o', lists 'V' ... 'z' and 'v', maps 'M' ... 'z',
// strings 0x00-0x1f / 'S' / 's', refs 'R' 'J' 'K'. Only strings and ints
// are decoded; everything else is stepped over, with every length checked
// against the bytes left and nesting bounded.
type draft struct {
	b       []byte
	pos     int
	classes []int // field count per class definition, in order
	scratch []byte
}

var errDraft = errors.New("sofarpc: malformed hessian")

const maxDepth = 32

func (d *draft) fail(what string) error {
	var tag byte
	if d.pos < len(d.b) {
		tag = d.b[d.pos]
	}
	return fmt.Errorf("%w: %s at offset %d (tag 0x%02x)", errDraft, what, d.pos, tag)
}

// need checks that n more bytes exist after pos.
func (d *draft) need(n int) error {
	if n < 0 || n > len(d.b)-d.pos {
		return d.fail("value past the end")
	}
	return nil
}

func (d *draft) peek() (byte, error) {
	if d.pos >= len(d.b) {
		return 0, d.fail("unexpected end")
	}
	return d.b[d.pos], nil
}

// readInt reads an int in any of its encodings.
func (d *draft) readInt() (int64, error) {
	t, err := d.peek()
	if err != nil {
		return 0, err
	}
	b := d.b[d.pos:]
	switch {
	case t >= 0x80 && t <= 0xbf:
		d.pos++
		return int64(t) - 0x90, nil
	case t >= 0xc0 && t <= 0xcf:
		if err := d.need(2); err != nil {
			return 0, err
		}
		d.pos += 2
		return (int64(t)-0xc8)<<8 | int64(b[1]), nil
	case t >= 0xd0 && t <= 0xd7:
		if err := d.need(3); err != nil {
			return 0, err
		}
		d.pos += 3
		return (int64(t)-0xd4)<<16 | int64(b[1])<<8 | int64(b[2]), nil
	case t == 'I':
		if err := d.need(5); err != nil {
			return 0, err
		}
		d.pos += 5
		return int64(int32(binary.BigEndian.Uint32(b[1:]))), nil
	}
	return 0, d.fail("expected int")
}

// readString reads a string or null; a single-chunk string is a view of
// the input, a chunked one is assembled in scratch (valid until the next
// call).
func (d *draft) readString() (s []byte, null bool, err error) {
	start := d.pos
	t, err := d.peek()
	if err != nil {
		return nil, false, err
	}
	if t == 'N' {
		d.pos++
		return nil, true, nil
	}
	var out []byte
	chunked := false
	for {
		t, err := d.peek()
		if err != nil {
			d.pos = start
			return nil, false, err
		}
		var units int
		final := true
		switch {
		case t <= 0x1f:
			units = int(t)
			d.pos++
		case t == 'S' || t == 's':
			if err := d.need(3); err != nil {
				d.pos = start
				return nil, false, err
			}
			units = int(binary.BigEndian.Uint16(d.b[d.pos+1:]))
			final = t == 'S'
			d.pos += 3
		default:
			if chunked {
				d.pos = start
				return nil, false, d.fail("expected string chunk")
			}
			return nil, false, d.fail("expected string")
		}
		from := d.pos
		if err := d.skipUnits(units); err != nil {
			d.pos = start
			return nil, false, err
		}
		if final && !chunked {
			return d.b[from:d.pos:d.pos], false, nil
		}
		if !chunked {
			out, chunked = d.scratch[:0], true
		}
		out = append(out, d.b[from:d.pos]...)
		if final {
			d.scratch = out
			return out, false, nil
		}
	}
}

// skipUnits steps over n UTF-16 units of UTF-8 (CESU-8 for surrogates).
func (d *draft) skipUnits(n int) error {
	for ; n > 0; n-- {
		if d.pos >= len(d.b) {
			return d.fail("string past the end")
		}
		c := d.b[d.pos]
		switch {
		case c < utf8.RuneSelf:
			d.pos++
		case c&0xe0 == 0xc0:
			d.pos += 2
		case c&0xf0 == 0xe0:
			d.pos += 3
		default:
			// Java's hessian and hessian.js read 1-3 byte sequences only
			// (a supplementary character is two 3-byte surrogates) and
			// fail the stream on any other lead byte.
			return d.fail("bad UTF-8 in string")
		}
		if d.pos > len(d.b) {
			return d.fail("string past the end")
		}
	}
	return nil
}

// skipType steps over an optional list or map type ('t' len name, 'u' ref).
func (d *draft) skipType() error {
	if d.pos >= len(d.b) {
		return nil
	}
	switch d.b[d.pos] {
	case 't':
		if err := d.need(3); err != nil {
			return err
		}
		n := int(binary.BigEndian.Uint16(d.b[d.pos+1:]))
		d.pos += 3
		if err := d.need(n); err != nil {
			return err
		}
		d.pos += n
	case 'u':
		d.pos++
		_, err := d.readInt()
		return err
	}
	return nil
}

// fixed are the sizes (tag included) of the scalars.
var fixed = func() (t [256]int8) {
	for c := 0x80; c <= 0xbf; c++ {
		t[c] = 1
	}
	for c := 0xc0; c <= 0xcf; c++ {
		t[c] = 2
	}
	for c := 0xd0; c <= 0xd7; c++ {
		t[c] = 3
	}
	for c := 0xd8; c <= 0xef; c++ {
		t[c] = 1
	}
	for c := 0xf0; c <= 0xff; c++ {
		t[c] = 2
	}
	for c := 0x38; c <= 0x3f; c++ {
		t[c] = 3
	}
	for _, c := range []byte{'N', 'T', 'F', 0x67, 0x68} {
		t[c] = 1
	}
	t[0x69], t[0x6a], t[0x6b], t['J'], t['K'] = 2, 3, 5, 2, 3
	t['I'], t['w'], t['R'] = 5, 5, 5
	t['L'], t['D'], t['d'] = 9, 9, 9
	return
}()

// skip steps over one value.
func (d *draft) skip(depth int) error {
	if depth > maxDepth {
		return d.fail("nesting too deep")
	}
	t, err := d.peek()
	if err != nil {
		return err
	}
	if n := int(fixed[t]); n > 0 {
		if err := d.need(n); err != nil {
			return err
		}
		d.pos += n
		return nil
	}
	switch {
	case t <= 0x1f || t == 'S' || t == 's':
		_, _, err := d.readString()
		return err
	case t >= 0x20 && t <= 0x2f:
		return d.skipBytes(int(t-0x20), 1)
	case t == 'B' || t == 'b':
		for {
			if err := d.need(3); err != nil {
				return err
			}
			last := d.b[d.pos] == 'B'
			if err := d.skipBytes(int(binary.BigEndian.Uint16(d.b[d.pos+1:])), 3); err != nil {
				return err
			}
			if last {
				return nil
			}
			if t, err = d.peek(); err != nil {
				return err
			}
			if t != 'B' && t != 'b' {
				return d.fail("expected binary chunk")
			}
		}
	case t == 'M':
		d.pos++
		if err := d.skipType(); err != nil {
			return err
		}
		return d.skipUntilEnd(depth, true)
	case t == 'V' || t == 'v':
		_, err := d.list(depth)
		return err
	case t == 'O':
		if err := d.classDef(nil); err != nil {
			return err
		}
		return d.skip(depth)
	case t == 'o':
		n, err := d.instance()
		if err != nil {
			return err
		}
		return d.skipN(n, depth)
	}
	return d.fail("unexpected tag")
}

// list steps over a list and returns its length: 'V' [type] length
// values 'z', or 'v' typeref length values. Java's hessian also reads a
// 'V' list without a length (values up to 'z'), but hessian.js-1, which
// sofa-rpc-node's servers use, then takes 'z' for the length code and
// misreads everything after it, failing the connection: such a list is
// refused here.
func (d *draft) list(depth int) (int, error) {
	n := 0
	if d.b[d.pos] == 'v' {
		d.pos++
		if _, err := d.readInt(); err != nil {
			return 0, err
		}
		l, err := d.readInt()
		if err != nil {
			return 0, err
		}
		return int(l), d.skipN(int(l), depth)
	}
	d.pos++
	if err := d.skipType(); err != nil {
		return 0, err
	}
	switch t, _ := d.peek(); t {
	case 'n':
		if err := d.need(2); err != nil {
			return 0, err
		}
		n = int(d.b[d.pos+1])
		d.pos += 2
	case 'l':
		if err := d.need(5); err != nil {
			return 0, err
		}
		n = int(int32(binary.BigEndian.Uint32(d.b[d.pos+1:])))
		d.pos += 5
	default:
		return 0, d.fail("list without a length")
	}
	if err := d.skipN(n, depth); err != nil {
		return 0, err
	}
	if t, err := d.peek(); err != nil || t != 'z' {
		return 0, d.fail("list without end")
	}
	d.pos++
	return n, nil
}

func (d *draft) skipBytes(n, hdr int) error {
	if err := d.need(hdr + n); err != nil {
		return err
	}
	d.pos += hdr + n
	return nil
}

// skipN steps over n values; n is checked against the bytes left, as each
// value takes at least one.
func (d *draft) skipN(n, depth int) error {
	if n < 0 || n > len(d.b)-d.pos {
		return d.fail("count past the end")
	}
	for i := 0; i < n; i++ {
		if err := d.skip(depth + 1); err != nil {
			return err
		}
	}
	return nil
}

// skipUntilEnd steps over values (pairs for a map) up to 'z'.
func (d *draft) skipUntilEnd(depth int, pairs bool) error {
	for {
		t, err := d.peek()
		if err != nil {
			return err
		}
		if t == 'z' {
			d.pos++
			return nil
		}
		if err := d.skip(depth + 1); err != nil {
			return err
		}
		if pairs {
			if err := d.skip(depth + 1); err != nil {
				return err
			}
		}
	}
}

// classDef consumes 'O' len rawtype count field* and records it; fn (if
// set) gets each field name.
func (d *draft) classDef(fn func(i int, field []byte)) error {
	d.pos++
	n, err := d.readInt()
	if err != nil {
		return err
	}
	if err := d.need(int(n)); err != nil {
		return err
	}
	d.pos += int(n)
	count, err := d.readInt()
	if err != nil {
		return err
	}
	if count < 0 || count > int64(len(d.b)-d.pos) {
		return d.fail("field count past the end")
	}
	for i := 0; i < int(count); i++ {
		name, null, err := d.readString()
		if err != nil || null {
			return d.fail("bad field name")
		}
		if fn != nil {
			fn(i, name)
		}
	}
	d.classes = append(d.classes, int(count))
	return nil
}

// instance consumes 'o' index and returns the class's field count.
func (d *draft) instance() (int, error) {
	d.pos++
	i, err := d.readInt()
	if err != nil {
		return 0, err
	}
	if i < 0 || i >= int64(len(d.classes)) {
		return 0, d.fail("object of an unknown class")
	}
	return d.classes[i], nil
}
