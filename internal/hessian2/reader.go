// Package hessian2 is an allocation-free walker over Hessian 2.0 serialized
// data (http://hessian.caucho.com/doc/hessian-serialization.html).
//
// It exists for the Dubbo proxy codec: to route or rewrite a request the
// proxy only needs a few strings and the attachment map at the end of the
// body, but to get there it has to step over RPC arguments of arbitrary
// types that it never wants to materialize. Building objects (as a general
// Hessian decoder does) would allocate per request and would require the
// argument classes to be registered, so this package instead validates and
// skips values in place, and decodes only strings, ints and map framing.
//
// Because the bytes come from the network, every declared length is checked
// against the bytes that are left before it is used, nesting is bounded, and
// the walker is iterative, so no input can make it panic, allocate in
// proportion to a declared (rather than actual) size, loop without consuming
// input, or recurse without bound.
package hessian2

import "encoding/binary"

// DefaultMaxDepth is the nesting limit used when SetMaxDepth was not called.
// Real Dubbo arguments rarely nest more than a handful of levels; 64 leaves
// generous room while keeping the explicit stack tiny.
const DefaultMaxDepth = 64

// Retention caps applied by Reset: a single hostile or unusually large message
// must not pin a large buffer in a pooled Reader for the rest of its life.
const (
	maxRetainedClasses = 1 << 12
	maxRetainedScratch = 1 << 20
)

// Reader walks Hessian 2.0 bytes without building objects.
//
// The zero value is usable after Reset. A Reader is meant to be reused (for
// example from a sync.Pool or per connection): Reset keeps the storage of the
// class-definition table, the nesting stack and the string scratch buffer, so
// after warm-up walking a message does not allocate.
//
// A method that returns an error leaves the Reader as it was before the
// call (position and class definitions), so Pos still points at the value
// that failed; the stream should nevertheless be treated as unusable.
type Reader struct {
	buf []byte
	pos int

	maxDepth int

	// noFourByte refuses 4-byte UTF-8 sequences in strings; see
	// SetJavaUTF8.
	noFourByte bool

	// classes holds the field count of each class definition ('C') seen
	// since Reset, in definition order, because an object instance refers to
	// its definition by that index and needs the count to know how many
	// values follow. Dubbo writes one Hessian stream per body, so a
	// definition in one argument is referenced by later arguments: the table
	// must persist across Skip calls and only Reset clears it.
	classes []int32

	// stack replaces recursion for nested containers; see Skip.
	stack []frame

	// scratch assembles chunked strings and strings that need CESU-8 to
	// UTF-8 conversion.
	scratch []byte
}

// frame is one open container on Skip's explicit stack.
type frame struct {
	kind uint8
	// For frameCount: values still to come. For frameMap: 0 when the next
	// value is a key, 1 when it is a value, so 'Z' is only accepted between
	// entries.
	n int
}

const (
	frameCount uint8 = iota // fixed-length list or object instance
	frameList               // variable-length list, ends with 'Z'
	frameMap                // map, ends with 'Z'
)

// Reset starts walking b from its first byte and forgets all class
// definitions, since a class-definition index is only meaningful within the
// stream that defined it.
func (r *Reader) Reset(b []byte) {
	r.buf = b
	r.pos = 0
	if cap(r.classes) > maxRetainedClasses {
		r.classes = nil
	} else {
		r.classes = r.classes[:0]
	}
	if cap(r.scratch) > maxRetainedScratch {
		r.scratch = nil
	}
	r.stack = r.stack[:0]
}

// Pos returns the offset of the next unread byte, so a codec can slice the
// original body around values (for example to rewrite only the attachments).
func (r *Reader) Pos() int { return r.pos }

// Len returns the number of bytes left.
func (r *Reader) Len() int { return len(r.buf) - r.pos }

// SetMaxDepth sets the nesting limit for lists, maps and objects. A
// container whose depth would exceed n makes Skip fail with ErrTooDeep.
// Values below 1 restore DefaultMaxDepth.
func (r *Reader) SetMaxDepth(n int) {
	if n < 1 {
		n = 0
	}
	r.maxDepth = n
}

// SetJavaUTF8 makes strings with a 4-byte UTF-8 sequence malformed, as
// Java's Hessian2Input and hessian.js (which SOFARPC servers run) read
// them: they know only 1-3 byte sequences and fail the whole stream on any
// other lead byte, so a proxy that forwarded such a string to them would
// get its shared connection closed. dubbo-go-hessian2 reads 4-byte
// sequences, so the default accepts them. Reset keeps the setting.
func (r *Reader) SetJavaUTF8(on bool) { r.noFourByte = on }

func (r *Reader) depthLimit() int {
	if r.maxDepth <= 0 {
		return DefaultMaxDepth
	}
	return r.maxDepth
}

// Fixed sizes (tag byte included) of the values that need no further
// inspection; 0 marks tags with variable layout, -1 reserved or
// out-of-place tags. A table keeps the common scalar case to one load.
const (
	szSpecial  = 0
	szReserved = -1
)

var fixedSize = buildFixedSize()

func buildFixedSize() (t [256]int8) {
	set := func(lo, hi int, v int8) {
		for i := lo; i <= hi; i++ {
			t[i] = v
		}
	}
	for i := 0x20; i <= 0x2f; i++ { // binary of length 0-15
		t[i] = int8(1 + i - 0x20)
	}
	set(0x38, 0x3f, 3) // long, three octets
	set(0x40, 0x40, szReserved)
	set('D', 'D', 9)
	set('E', 'E', szReserved)
	set('F', 'F', 1)
	set('G', 'G', szReserved)
	set('I', 'I', 5)
	set('J', 'J', 9) // date, milliseconds
	set('K', 'K', 5) // date, minutes
	set('L', 'L', 9)
	set('N', 'N', 1)
	set('P', 'P', szReserved)
	set('T', 'T', 1)
	set('Y', 'Y', 5)   // long encoded as int32
	set(0x5b, 0x5c, 1) // double 0.0, 1.0
	set(0x5d, 0x5d, 2) // double as byte
	set(0x5e, 0x5e, 3) // double as short
	set(0x5f, 0x5f, 5) // double as float / int millis
	set(0x80, 0xbf, 1) // int, one octet
	set(0xc0, 0xcf, 2) // int, two octets
	set(0xd0, 0xd7, 3) // int, three octets
	set(0xd8, 0xef, 1) // long, one octet
	set(0xf0, 0xff, 2) // long, two octets
	return t
}

// isStringTag reports whether tag starts a string chunk.
func isStringTag(tag byte) bool {
	return tag <= 0x1f || (tag >= 0x30 && tag <= 0x33) || tag == 'R' || tag == 'S'
}

// isBinaryTag reports whether tag starts a binary chunk.
func isBinaryTag(tag byte) bool {
	return (tag >= 0x20 && tag <= 0x2f) || (tag >= 0x34 && tag <= 0x37) || tag == 'A' || tag == 'B'
}

// isIntTag reports whether tag starts an int or long.
func isIntTag(tag byte) bool {
	return tag >= 0x80 || (tag >= 0x38 && tag <= 0x3f) || tag == 'I' || tag == 'L' || tag == 'Y'
}

// Skip steps over exactly one value of any type.
//
// A class definition is not a value by itself ("value ::= class-def value"
// in the grammar), so a 'C' is consumed together with the value that
// follows it; the definition's field count is recorded for later objects.
//
// Containers are tracked with an explicit stack instead of recursion, so the
// only bound needed is the depth limit, and the Go stack cannot be exhausted
// by input.
func (r *Reader) Skip() error {
	start, defs := r.pos, len(r.classes)
	if err := r.skipValue(); err != nil {
		// Undo everything, including definitions read on the way, so a
		// failed call leaves no trace.
		r.pos = start
		r.classes = r.classes[:defs]
		r.stack = r.stack[:0]
		return err
	}
	return nil
}

func (r *Reader) skipValue() error {
	stack := r.stack[:0]
	limit := r.depthLimit()
	// afterDef is set once a class definition has been consumed: the next
	// thing must be a value, not a terminator.
	afterDef := false
	for {
		at := r.pos
		if at >= len(r.buf) {
			return r.fail(at, "unexpected end of input", ErrTruncated)
		}
		tag := r.buf[at]

		if sz := fixedSize[tag]; sz > 0 {
			if len(r.buf)-at < int(sz) {
				return r.fail(at, "value extends past end of input", ErrTruncated)
			}
			r.pos = at + int(sz)
		} else if sz == szReserved {
			return r.fail(at, "reserved tag", ErrMalformed)
		} else {
			// Variable layout. push is the number of values the new
			// container holds (-1: until 'Z'); kind says how to track it.
			push, kind := 0, frameCount
			switch {
			case isStringTag(tag):
				if _, err := r.skipString(); err != nil {
					return err
				}
			case isBinaryTag(tag):
				if err := r.skipBinary(); err != nil {
					return err
				}
			case tag == 'Z':
				if afterDef || len(stack) == 0 {
					return r.fail(at, "unexpected end marker", ErrMalformed)
				}
				top := stack[len(stack)-1]
				if top.kind == frameCount || (top.kind == frameMap && top.n != 0) {
					return r.fail(at, "unexpected end marker", ErrMalformed)
				}
				r.pos = at + 1
				stack = stack[:len(stack)-1]
			case tag == 'C':
				if err := r.readClassDef(); err != nil {
					return err
				}
				afterDef = true
				continue
			case tag == 'Q':
				r.pos = at + 1
				idx, err := r.readIntValue(at)
				if err != nil {
					return err
				}
				if idx < 0 {
					return r.fail(at, "negative reference", ErrMalformed)
				}
			default:
				if len(stack) >= limit {
					return r.fail(at, "nesting limit exceeded", ErrTooDeep)
				}
				var err error
				push, kind, err = r.openContainer(at, tag)
				if err != nil {
					return err
				}
			}
			if push != 0 {
				n := push
				if kind != frameCount {
					n = 0 // 'Z'-terminated: n tracks map key/value parity
				}
				stack = append(stack, frame{kind: kind, n: n})
				r.stack = stack // keep grown storage for the next call
				afterDef = false
				continue
			}
		}
		afterDef = false

		// One value is complete: account for it in the enclosing
		// containers, closing fixed-size ones that are now full.
		for len(stack) > 0 {
			top := &stack[len(stack)-1]
			if top.kind == frameCount {
				top.n--
				if top.n > 0 {
					break
				}
				stack = stack[:len(stack)-1]
				continue
			}
			if top.kind == frameMap {
				top.n ^= 1
			}
			break
		}
		if len(stack) == 0 {
			return nil
		}
	}
}

// openContainer consumes the header of a list, map or object whose tag is at
// offset at. It returns the number of values the container holds (-1 for
// 'Z'-terminated ones, 0 for an empty fixed-size one, which is then already
// complete) and how to track it.
func (r *Reader) openContainer(at int, tag byte) (int, uint8, error) {
	r.pos = at + 1
	switch {
	case tag == 'H' || tag == 'W': // untyped map / variable list
		if tag == 'H' {
			return -1, frameMap, nil
		}
		return -1, frameList, nil
	case tag == 'M' || tag == 'U': // typed map / variable list
		if err := r.skipType(at); err != nil {
			return 0, 0, err
		}
		if tag == 'M' {
			return -1, frameMap, nil
		}
		return -1, frameList, nil
	case tag == 'V' || tag == 'X': // fixed list, typed / untyped
		if tag == 'V' {
			if err := r.skipType(at); err != nil {
				return 0, 0, err
			}
		}
		n, err := r.readIntValue(at)
		if err != nil {
			return 0, 0, err
		}
		return r.checkCount(at, n)
	case tag >= 0x70 && tag <= 0x77: // typed fixed list, direct length
		if err := r.skipType(at); err != nil {
			return 0, 0, err
		}
		return r.checkCount(at, int64(tag-0x70))
	case tag >= 0x78 && tag <= 0x7f: // untyped fixed list, direct length
		return r.checkCount(at, int64(tag-0x78))
	case tag == 'O' || (tag >= 0x60 && tag <= 0x6f): // object instance
		var idx int64
		if tag == 'O' {
			var err error
			if idx, err = r.readIntValue(at); err != nil {
				return 0, 0, err
			}
		} else {
			idx = int64(tag - 0x60)
		}
		if idx < 0 || idx >= int64(len(r.classes)) {
			return 0, 0, r.fail(at, "object refers to unknown class definition", ErrMalformed)
		}
		return r.checkCount(at, int64(r.classes[idx]))
	}
	return 0, 0, r.fail(at, "unexpected tag", ErrMalformed)
}

// checkCount validates a declared element count. Every value takes at least
// one byte, so a count larger than the bytes left can never be satisfied:
// failing here keeps a hostile count (say 2^31) from costing any work.
func (r *Reader) checkCount(at int, n int64) (int, uint8, error) {
	if n < 0 {
		return 0, 0, r.fail(at, "negative length", ErrMalformed)
	}
	if n > int64(len(r.buf)-r.pos) {
		return 0, 0, r.fail(at, "declared length exceeds input", ErrTruncated)
	}
	return int(n), frameCount, nil
}

// skipType steps over a list or map type, which is either a type name
// (string) or an int index into the stream's type table. The table itself
// is not needed to skip, so it is not kept.
func (r *Reader) skipType(at int) error {
	if r.pos >= len(r.buf) {
		return r.fail(at, "missing type", ErrTruncated)
	}
	t := r.buf[r.pos]
	switch {
	case isStringTag(t):
		_, err := r.skipString()
		return err
	case isIntTag(t):
		n, err := r.readIntValue(at)
		if err == nil && n < 0 {
			return r.fail(at, "negative type reference", ErrMalformed)
		}
		return err
	}
	return r.fail(r.pos, "expected type name or type reference", ErrMalformed)
}

// readClassDef consumes 'C' name fieldcount fieldname* at r.pos and records
// the field count, which is all that is needed to skip instances later.
func (r *Reader) readClassDef() error {
	at := r.pos
	r.pos++
	if r.pos >= len(r.buf) {
		return r.fail(at, "missing class name", ErrTruncated)
	}
	if !isStringTag(r.buf[r.pos]) {
		return r.fail(r.pos, "class name is not a string", ErrMalformed)
	}
	if _, err := r.skipString(); err != nil {
		return err
	}
	n, err := r.readIntValue(at)
	if err != nil {
		return err
	}
	if _, _, err := r.checkCount(at, n); err != nil {
		return err
	}
	for i := int64(0); i < n; i++ {
		if r.pos >= len(r.buf) {
			return r.fail(at, "missing field name", ErrTruncated)
		}
		if !isStringTag(r.buf[r.pos]) {
			return r.fail(r.pos, "field name is not a string", ErrMalformed)
		}
		if _, err := r.skipString(); err != nil {
			return err
		}
	}
	r.classes = append(r.classes, int32(n))
	return nil
}

// readIntValue decodes an int or long (any encoding) at r.pos that must fit
// in an int32, as lengths, counts and references do. at is the offset used
// in error messages (the enclosing value's tag).
func (r *Reader) readIntValue(at int) (int64, error) {
	if r.pos >= len(r.buf) {
		return 0, r.fail(at, "missing integer", ErrTruncated)
	}
	p := r.pos
	b := r.buf
	tag := b[p]
	left := len(b) - p
	var v int64
	var sz int
	switch {
	case tag >= 0x80 && tag <= 0xbf:
		v, sz = int64(tag)-0x90, 1
	case tag >= 0xc0 && tag <= 0xcf:
		sz = 2
		if left >= sz {
			v = (int64(tag)-0xc8)<<8 | int64(b[p+1])
		}
	case tag >= 0xd0 && tag <= 0xd7:
		sz = 3
		if left >= sz {
			v = (int64(tag)-0xd4)<<16 | int64(b[p+1])<<8 | int64(b[p+2])
		}
	case tag == 'I' || tag == 'Y':
		sz = 5
		if left >= sz {
			v = int64(int32(binary.BigEndian.Uint32(b[p+1:])))
		}
	case tag >= 0xd8 && tag <= 0xef:
		v, sz = int64(tag)-0xe0, 1
	case tag >= 0xf0:
		sz = 2
		if left >= sz {
			v = (int64(tag)-0xf8)<<8 | int64(b[p+1])
		}
	case tag >= 0x38 && tag <= 0x3f:
		sz = 3
		if left >= sz {
			v = (int64(tag)-0x3c)<<16 | int64(b[p+1])<<8 | int64(b[p+2])
		}
	case tag == 'L':
		sz = 9
		if left >= sz {
			v = int64(binary.BigEndian.Uint64(b[p+1:]))
		}
	default:
		return 0, r.fail(p, "expected integer", ErrMalformed)
	}
	if left < sz {
		return 0, r.fail(p, "integer extends past end of input", ErrTruncated)
	}
	if v < -1<<31 || v > 1<<31-1 {
		return 0, r.fail(p, "integer does not fit in 32 bits", ErrMalformed)
	}
	r.pos = p + sz
	return v, nil
}

// skipBinary steps over a binary value (all chunks) at r.pos.
func (r *Reader) skipBinary() error {
	for {
		at := r.pos
		b := r.buf
		if at >= len(b) {
			return r.fail(at, "missing binary chunk", ErrTruncated)
		}
		tag := b[at]
		var n, hdr int
		switch {
		case tag >= 0x20 && tag <= 0x2f:
			n, hdr = int(tag-0x20), 1
		case tag >= 0x34 && tag <= 0x37:
			hdr = 2
			if len(b)-at < hdr {
				return r.fail(at, "binary header extends past end of input", ErrTruncated)
			}
			n = int(tag-0x34)<<8 | int(b[at+1])
		case tag == 'A' || tag == 'B':
			hdr = 3
			if len(b)-at < hdr {
				return r.fail(at, "binary header extends past end of input", ErrTruncated)
			}
			n = int(b[at+1])<<8 | int(b[at+2])
		default:
			return r.fail(at, "expected binary chunk", ErrMalformed)
		}
		if len(b)-at-hdr < n {
			return r.fail(at, "binary length exceeds input", ErrTruncated)
		}
		r.pos = at + hdr + n
		if tag != 'A' {
			return nil
		}
	}
}

// stringChunk parses the header of the string chunk at r.pos and returns
// the declared length in UTF-16 code units, the header size and whether more
// chunks follow.
func (r *Reader) stringChunk() (units, hdr int, more bool, err error) {
	at := r.pos
	b := r.buf
	if at >= len(b) {
		return 0, 0, false, r.fail(at, "missing string chunk", ErrTruncated)
	}
	tag := b[at]
	switch {
	case tag <= 0x1f:
		return int(tag), 1, false, nil
	case tag >= 0x30 && tag <= 0x33:
		if len(b)-at < 2 {
			return 0, 0, false, r.fail(at, "string header extends past end of input", ErrTruncated)
		}
		return int(tag-0x30)<<8 | int(b[at+1]), 2, false, nil
	case tag == 'R' || tag == 'S':
		if len(b)-at < 3 {
			return 0, 0, false, r.fail(at, "string header extends past end of input", ErrTruncated)
		}
		return int(b[at+1])<<8 | int(b[at+2]), 3, tag == 'R', nil
	}
	return 0, 0, false, r.fail(at, "expected string chunk", ErrMalformed)
}

// skipString steps over a string value (all chunks) at r.pos and reports
// whether it contains CESU-8 encoded surrogates.
func (r *Reader) skipString() (surrogates bool, err error) {
	// Fast path for the most frequent string in Dubbo bodies: a short
	// ASCII field name, map key or value in the one-byte-header form.
	if at := r.pos; at < len(r.buf) && r.buf[at] <= 0x1f {
		if end := at + 1 + int(r.buf[at]); end <= len(r.buf) && isASCII(r.buf[at+1:end]) {
			r.pos = end
			return false, nil
		}
	}
	for {
		at := r.pos
		units, hdr, more, err := r.stringChunk()
		if err != nil {
			return false, err
		}
		end, sur, err := r.walkUnits(at, at+hdr, units)
		if err != nil {
			return false, err
		}
		surrogates = surrogates || sur
		r.pos = end
		if !more {
			return surrogates, nil
		}
	}
}

const asciiMask = 0x8080808080808080

// isASCII reports whether s has no byte >= 0x80.
func isASCII(s []byte) bool {
	for len(s) >= 8 {
		if binary.LittleEndian.Uint64(s)&asciiMask != 0 {
			return false
		}
		s = s[8:]
	}
	for _, c := range s {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// walkUnits finds where n UTF-16 code units of UTF-8 data starting at p end.
//
// Hessian counts string lengths in UTF-16 code units, not bytes, so the
// only way to find the end is to look at each UTF-8 lead byte: 1-3 byte
// sequences are one unit, a 4-byte sequence (a supplementary character
// written as real UTF-8) is two. Java and dubbo-go-hessian2 instead write a
// supplementary character as two 3-byte surrogate sequences (CESU-8), which
// this counts as one unit each, matching their count. Continuation bytes
// are not validated, mirroring Java's Hessian2Input: what matters for a
// proxy is agreeing with the peer on where the value ends.
//
// Each unit needs at least one byte, so a length larger than the bytes
// left fails before any scanning, and the loop is bounded by n.
func (r *Reader) walkUnits(at, p, n int) (end int, surrogates bool, err error) {
	b := r.buf
	if n > len(b)-p {
		return 0, false, r.fail(at, "string length exceeds input", ErrTruncated)
	}
	i, units := p, 0
	for units < n {
		if i >= len(b) {
			return 0, false, r.fail(at, "string data extends past end of input", ErrTruncated)
		}
		c := b[i]
		switch {
		case c < 0x80:
			// ASCII run, which is nearly all of a typical Dubbo body:
			// consume it 16 and 8 bytes at a time, never past n units.
			s := b[i:]
			if rem := n - units; len(s) > rem {
				s = s[:rem]
			}
			t := s[1:]
			for len(t) >= 32 && (binary.LittleEndian.Uint64(t[0:8])|binary.LittleEndian.Uint64(t[8:16])|
				binary.LittleEndian.Uint64(t[16:24])|binary.LittleEndian.Uint64(t[24:32]))&asciiMask == 0 {
				t = t[32:]
			}
			for len(t) >= 8 && binary.LittleEndian.Uint64(t[:8])&asciiMask == 0 {
				t = t[8:]
			}
			for len(t) > 0 && t[0] < 0x80 {
				t = t[1:]
			}
			k := len(s) - len(t)
			i += k
			units += k
		case c < 0xc0:
			return 0, false, r.fail(at, "invalid UTF-8 lead byte in string", ErrMalformed)
		case c < 0xe0:
			i += 2
			units++
		case c < 0xf0:
			// ED A0..BF xx encodes U+D800..U+DFFF, i.e. a surrogate.
			if c == 0xed && i+1 < len(b) && b[i+1] >= 0xa0 {
				surrogates = true
			}
			i += 3
			units++
		case c < 0xf8 && !r.noFourByte:
			i += 4
			units += 2
			if units > n {
				return 0, false, r.fail(at, "string chunk splits a supplementary character", ErrMalformed)
			}
		default:
			return 0, false, r.fail(at, "invalid UTF-8 lead byte in string", ErrMalformed)
		}
	}
	if i > len(b) {
		return 0, false, r.fail(at, "string data extends past end of input", ErrTruncated)
	}
	return i, surrogates, nil
}
