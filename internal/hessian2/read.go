package hessian2

import "unicode/utf8"

// PeekIsString reports whether the next value is a string in any encoding
// (compact, 'S', or chunked 'R'). The Dubbo codec uses it to tell a string
// attachment key or value, which it wants to read, from anything else, which
// it skips. Null is not a string here.
func (r *Reader) PeekIsString() bool {
	return r.pos < len(r.buf) && isStringTag(r.buf[r.pos])
}

// ReadStringBytes reads one string value. Null ('N') is accepted and
// reported as isNull with a nil slice, because Dubbo writes null for absent
// strings (for example an empty service version).
//
// When the string is a single chunk of plain UTF-8, the result is a slice of
// the input (capacity-limited, so appending to it cannot overwrite the
// input) and nothing is copied. Chunked strings are assembled in an internal
// scratch buffer. Supplementary characters written the Java way, as a CESU-8
// surrogate pair, are converted to standard 4-byte UTF-8 (also in scratch),
// so the bytes compare equal to what a Go program sent; unpaired surrogates
// are passed through unchanged. The returned bytes are valid until the next
// call on the Reader.
func (r *Reader) ReadStringBytes() (s []byte, isNull bool, err error) {
	start := r.pos
	if start >= len(r.buf) {
		return nil, false, r.fail(start, "expected string, got end of input", ErrTruncated)
	}
	tag := r.buf[start]
	if tag == 'N' {
		r.pos++
		return nil, true, nil
	}
	if !isStringTag(tag) {
		return nil, false, r.fail(start, "expected string", ErrMalformed)
	}

	units, hdr, more, err := r.stringChunk()
	if err != nil {
		return nil, false, err
	}
	data := start + hdr
	end, sur, err := r.walkUnits(start, data, units)
	if err != nil {
		return nil, false, err
	}
	if !more && !sur {
		r.pos = end
		return r.buf[data:end:end], false, nil
	}

	out := append(r.scratch[:0], r.buf[data:end]...)
	r.pos = end
	for more {
		at := r.pos
		if units, hdr, more, err = r.stringChunk(); err != nil {
			r.scratch = out
			r.pos = start
			return nil, false, err
		}
		var s bool
		if end, s, err = r.walkUnits(at, at+hdr, units); err != nil {
			r.scratch = out
			r.pos = start
			return nil, false, err
		}
		sur = sur || s
		out = append(out, r.buf[at+hdr:end]...)
		r.pos = end
	}
	if sur {
		out = cesuToUTF8(out)
	}
	r.scratch = out
	return out, false, nil
}

// ReadString is the allocating convenience form of ReadStringBytes; null
// reads as "".
func (r *Reader) ReadString() (string, error) {
	b, _, err := r.ReadStringBytes()
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// cesuToUTF8 rewrites, in place, each surrogate pair encoded as two 3-byte
// sequences (ED A0-AF xx ED B0-BF xx) into the 4-byte UTF-8 form of the
// supplementary character. The output is never longer than the input, so
// writing behind the read position is safe.
func cesuToUTF8(p []byte) []byte {
	w := 0
	for i := 0; i < len(p); {
		if p[i] == 0xed && i+5 < len(p) && p[i+1]&0xf0 == 0xa0 && p[i+3] == 0xed && p[i+4]&0xf0 == 0xb0 {
			hi := rune(p[i+1]&0x0f)<<6 | rune(p[i+2]&0x3f)
			lo := rune(p[i+4]&0x0f)<<6 | rune(p[i+5]&0x3f)
			w += utf8.EncodeRune(p[w:], 0x10000+hi<<10+lo)
			i += 6
			continue
		}
		p[w] = p[i]
		w++
		i++
	}
	return p[:w]
}

// ReadInt reads an int in any encoding. Long encodings are accepted when the
// value fits, because other Hessian writers (and Java for some boxed types)
// emit longs where the receiver expects an int; a value out of int32 range
// is ErrMalformed.
func (r *Reader) ReadInt() (int32, error) {
	start := r.pos
	if start >= len(r.buf) {
		return 0, r.fail(start, "expected integer, got end of input", ErrTruncated)
	}
	v, err := r.readIntValue(start)
	if err != nil {
		r.pos = start
		return 0, err
	}
	return int32(v), nil
}

// MapBegin consumes the start of a map: 'H' (untyped) or 'M' followed by a
// type. Null ('N') is accepted and reported as isNull, since Dubbo may send
// a null attachment map. Entries are then walked with MapNext.
func (r *Reader) MapBegin() (isNull bool, err error) {
	start := r.pos
	if start >= len(r.buf) {
		return false, r.fail(start, "expected map, got end of input", ErrTruncated)
	}
	switch r.buf[start] {
	case 'N':
		r.pos++
		return true, nil
	case 'H':
		r.pos++
		return false, nil
	case 'M':
		r.pos++
		if err := r.skipType(start); err != nil {
			r.pos = start
			return false, err
		}
		return false, nil
	}
	return false, r.fail(start, "expected map", ErrMalformed)
}

// MapNext reports whether another entry (a key and a value, to be read with
// ReadString, ReadInt or Skip) follows. It consumes the terminating 'Z' and
// then returns false.
func (r *Reader) MapNext() (bool, error) {
	if r.pos >= len(r.buf) {
		return false, r.fail(r.pos, "map ends without terminator", ErrTruncated)
	}
	if r.buf[r.pos] == 'Z' {
		r.pos++
		return false, nil
	}
	return true, nil
}

// SkipList steps over a list (or null) and returns how many elements it
// has. SOFARPC servers read as many arguments as methodArgSigs has
// elements, so a proxy that checks the arguments needs the count.
func (r *Reader) SkipList() (n int, isNull bool, err error) {
	start, defs := r.pos, len(r.classes)
	defer func() {
		if err != nil {
			r.pos, r.classes = start, r.classes[:defs]
		}
	}()
	if r.pos >= len(r.buf) {
		return 0, false, r.fail(r.pos, "unexpected end of input", ErrTruncated)
	}
	tag := r.buf[r.pos]
	switch {
	case tag == 'N':
		r.pos++
		return 0, true, nil
	case tag == 'U' || tag == 'V' || tag == 'W' || tag == 'X' || tag >= 0x70 && tag <= 0x7f:
	default:
		return 0, false, r.fail(r.pos, "expected a list", ErrMalformed)
	}
	count, kind, err := r.openContainer(r.pos, tag)
	if err != nil {
		return 0, false, err
	}
	if kind == frameCount {
		for i := 0; i < count; i++ {
			if err := r.Skip(); err != nil {
				return 0, false, err
			}
		}
		return count, false, nil
	}
	for {
		if r.pos >= len(r.buf) {
			return 0, false, r.fail(r.pos, "list without end", ErrTruncated)
		}
		if r.buf[r.pos] == 'Z' {
			r.pos++
			return n, false, nil
		}
		if err := r.Skip(); err != nil {
			return 0, false, err
		}
		n++
	}
}
