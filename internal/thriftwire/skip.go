package thriftwire

import (
	"encoding/binary"
	"math"
)

// Compact protocol type ids (field types and element types).
const (
	ctBoolTrue  = 1 // field type; also accepted as element type (Java/Go/C++ write it)
	ctBoolFalse = 2 // field type; the spec's element type for bool
	ctByte      = 3
	ctI16       = 4
	ctI32       = 5
	ctI64       = 6
	ctDouble    = 7
	ctBinary    = 8
	ctList      = 9
	ctSet       = 10
	ctMap       = 11
	ctStruct    = 12
	ctUUID      = 13
)

// binMin is the minimum encoded size of a value of each binary type; 0
// marks a type id that is invalid on the wire (STOP, VOID, 5, 7, 9, 17+).
var binMin = [256]uint8{
	TypeBool: 1, TypeByte: 1, TypeI16: 2, TypeI32: 4, TypeDouble: 8, TypeI64: 8,
	TypeString: 4, TypeStruct: 1, TypeMap: 6, TypeSet: 5, TypeList: 5, TypeUUID: 16,
}

// binFixed marks binary types whose size is always binMin.
var binFixed = [256]bool{
	TypeBool: true, TypeByte: true, TypeI16: true, TypeI32: true,
	TypeDouble: true, TypeI64: true, TypeUUID: true,
}

// cMin is the minimum encoded size of a compact element of each type
// (bools inside containers take one byte); 0 marks an invalid type id.
var cMin = [16]uint8{
	ctBoolTrue: 1, ctBoolFalse: 1, ctByte: 1, ctI16: 1, ctI32: 1, ctI64: 1,
	ctDouble: 8, ctBinary: 1, ctList: 1, ctSet: 1, ctMap: 1, ctStruct: 1, ctUUID: 16,
}

// cFixed marks compact element types whose size is always cMin.
var cFixed = [16]bool{
	ctBoolTrue: true, ctBoolFalse: true, ctByte: true, ctDouble: true, ctUUID: true,
}

// compactToType maps compact type ids to Type.
var compactToType = [16]Type{
	ctBoolTrue: TypeBool, ctBoolFalse: TypeBool, ctByte: TypeByte, ctI16: TypeI16,
	ctI32: TypeI32, ctI64: TypeI64, ctDouble: TypeDouble, ctBinary: TypeString,
	ctList: TypeList, ctSet: TypeSet, ctMap: TypeMap, ctStruct: TypeStruct, ctUUID: TypeUUID,
}

// SkipStruct steps over one struct (fields up to and including the STOP
// field) starting at b[off:] and returns the offset just after it.
//
// It returns ErrShort when b[off:] is a valid but incomplete prefix of a
// struct, ErrMalformed when it can never become one, and ErrTooDeep when
// structs and containers nest deeper than maxDepth (DefaultMaxDepth when
// maxDepth <= 0; the struct at off is depth 1). Every length and count is
// checked against the remaining bytes before use, so a huge declared size
// fails immediately with ErrShort and never drives a long loop. It does not
// allocate unless it returns an error; on error end is 0.
func SkipStruct(p Proto, b []byte, off int, maxDepth int) (end int, err error) {
	if off < 0 || off > len(b) {
		return 0, wrap(cBadOffset, nil, off)
	}
	if maxDepth <= 0 {
		maxDepth = DefaultMaxDepth
	}
	var c *cause
	switch p {
	case Binary:
		end, c = binSkipStruct(b, off, 1, maxDepth)
	case Compact:
		end, c = cSkipStruct(b, off, 1, maxDepth)
	default:
		return 0, wrap(cBadProto, nil, off)
	}
	if c != nil {
		return 0, wrap(c, b, end)
	}
	return end, nil
}

// FirstField reports the id and type of the first field of the struct at
// b[off:]: (0, TypeStop) for an empty struct. Compact types are translated
// to Type (both compact bool encodings give TypeBool). It is meant to tell a
// successful REPLY (result field 0) from a declared exception (id >= 1).
func FirstField(p Proto, b []byte, off int) (id int16, typ Type, err error) {
	if off < 0 || off > len(b) {
		return 0, 0, wrap(cBadOffset, nil, off)
	}
	if off == len(b) {
		return 0, 0, wrap(cShortField, b, off)
	}
	h := b[off]
	switch p {
	case Binary:
		t := Type(h)
		if t == TypeStop {
			return 0, TypeStop, nil
		}
		if binMin[t] == 0 {
			return 0, 0, wrap(cBadFieldType, b, off)
		}
		if len(b)-off < 3 {
			return 0, 0, wrap(cShortField, b, off)
		}
		return int16(binary.BigEndian.Uint16(b[off+1:])), t, nil
	case Compact:
		if h == 0 {
			return 0, TypeStop, nil
		}
		ct := h & 0x0f
		if ct == 0 || cMin[ct] == 0 {
			return 0, 0, wrap(cBadFieldType, b, off)
		}
		if delta := h >> 4; delta != 0 {
			return int16(delta), compactToType[ct], nil
		}
		fid, n, c := cFieldID(b, off+1)
		if c != nil {
			return 0, 0, wrap(c, b, n)
		}
		return fid, compactToType[ct], nil
	}
	return 0, 0, wrap(cBadProto, nil, off)
}

// ---- binary protocol ----

// binSkipStruct skips a struct at depth depth. On failure the returned int
// is the offset to report.
func binSkipStruct(b []byte, off, depth, maxDepth int) (int, *cause) {
	if depth > maxDepth {
		return off, cTooDeep
	}
	for {
		if off >= len(b) {
			return off, cShortField
		}
		t := Type(b[off])
		if t == TypeStop {
			return off + 1, nil
		}
		if binMin[t] == 0 {
			return off, cBadFieldType
		}
		if len(b)-off < 3 {
			return off, cShortField
		}
		var c *cause
		if off, c = binSkipValue(b, off+3, t, depth, maxDepth); c != nil {
			return off, c
		}
	}
}

// binSkipValue skips one value of the (valid) type t; depth is the depth
// of the enclosing struct or container.
func binSkipValue(b []byte, off int, t Type, depth, maxDepth int) (int, *cause) {
	rem := len(b) - off
	if binFixed[t] {
		if n := int(binMin[t]); rem >= n {
			return off + n, nil
		}
		return off, cShortValue
	}
	switch t {
	case TypeString:
		if rem < 4 {
			return off, cShortLen
		}
		n := int32(binary.BigEndian.Uint32(b[off:]))
		if n < 0 {
			return off, cNegLen
		}
		if int64(n) > int64(rem-4) {
			return off, cShortBytes
		}
		return off + 4 + int(n), nil
	case TypeStruct:
		return binSkipStruct(b, off, depth+1, maxDepth)
	case TypeList, TypeSet:
		depth++
		if depth > maxDepth {
			return off, cTooDeep
		}
		if rem < 5 {
			return off, cShortHeader
		}
		et := Type(b[off])
		if binMin[et] == 0 {
			return off, cBadElemType
		}
		size := int32(binary.BigEndian.Uint32(b[off+1:]))
		if size < 0 {
			return off, cNegSize
		}
		return binSkipElems(b, off, off+5, int64(size), et, 0, depth, maxDepth)
	case TypeMap:
		depth++
		if depth > maxDepth {
			return off, cTooDeep
		}
		if rem < 6 {
			return off, cShortHeader
		}
		kt, vt := Type(b[off]), Type(b[off+1])
		if binMin[kt] == 0 || binMin[vt] == 0 {
			return off, cBadElemType
		}
		size := int32(binary.BigEndian.Uint32(b[off+2:]))
		if size < 0 {
			return off, cNegSize
		}
		return binSkipElems(b, off, off+6, int64(size), kt, vt, depth, maxDepth)
	}
	return off, cBadFieldType // unreachable for validated types
}

// binSkipElems skips size elements of type et (or size key/value pairs
// when vt != 0) starting at off; hdr is the container's offset for errors.
func binSkipElems(b []byte, hdr, off int, size int64, et, vt Type, depth, maxDepth int) (int, *cause) {
	if size == 0 {
		return off, nil
	}
	per := int64(binMin[et])
	fixed := binFixed[et]
	if vt != 0 {
		per += int64(binMin[vt])
		fixed = fixed && binFixed[vt]
	}
	// Fail fast: every element takes at least per bytes.
	if size*per > int64(len(b)-off) {
		return hdr, cShortElems
	}
	if fixed {
		return off + int(size*per), nil
	}
	var c *cause
	for i := int64(0); i < size; i++ {
		if off, c = binSkipValue(b, off, et, depth, maxDepth); c != nil {
			return off, c
		}
		if vt != 0 {
			if off, c = binSkipValue(b, off, vt, depth, maxDepth); c != nil {
				return off, c
			}
		}
	}
	return off, nil
}

// ---- compact protocol ----

// cFieldID decodes a long-form field id (zigzag varint i16) at b[off:] and
// returns it with the length of its encoding (or the failing offset).
func cFieldID(b []byte, off int) (int16, int, *cause) {
	v, n, c := uvarint32(b, off)
	if c != nil {
		return 0, n, c
	}
	id := zigzag32(v)
	if id < math.MinInt16 || id > math.MaxInt16 {
		return 0, off, cBadFieldID
	}
	return int16(id), n, nil
}

func cSkipStruct(b []byte, off, depth, maxDepth int) (int, *cause) {
	if depth > maxDepth {
		return off, cTooDeep
	}
	for {
		if off >= len(b) {
			return off, cShortField
		}
		h := b[off]
		if h == 0 {
			return off + 1, nil
		}
		ct := h & 0x0f
		if ct == 0 || cMin[ct] == 0 {
			return off, cBadFieldType
		}
		off++
		if h>>4 == 0 { // long form: zigzag varint field id follows
			_, n, c := cFieldID(b, off)
			if c != nil {
				return n, c
			}
			off += n
		}
		if ct == ctBoolTrue || ct == ctBoolFalse {
			continue // a bool field's value lives in the field header
		}
		var c *cause
		if off, c = cSkipValue(b, off, ct, depth, maxDepth); c != nil {
			return off, c
		}
	}
}

// cSkipValue skips one value of the (valid) compact type ct as it is
// encoded inside a container or after a non-bool field header.
func cSkipValue(b []byte, off int, ct uint8, depth, maxDepth int) (int, *cause) {
	if cFixed[ct] {
		if n := int(cMin[ct]); len(b)-off >= n {
			return off + n, nil
		}
		return off, cShortValue
	}
	switch ct {
	case ctI16, ctI32:
		return skipVarint32(b, off)
	case ctI64:
		return skipVarint64(b, off)
	case ctBinary:
		size, n, c := readSize32(b, off, cNegLen)
		if c != nil {
			return n, c
		}
		if int64(size) > int64(len(b)-off-n) {
			return off, cShortBytes
		}
		return off + n + size, nil
	case ctStruct:
		return cSkipStruct(b, off, depth+1, maxDepth)
	case ctList, ctSet:
		depth++
		if depth > maxDepth {
			return off, cTooDeep
		}
		if off >= len(b) {
			return off, cShortHeader
		}
		h := b[off]
		et := h & 0x0f
		if cMin[et] == 0 {
			return off, cBadElemType
		}
		size, p := int(h>>4), off+1
		if size == 15 { // long form: varint size follows
			s, n, c := readSize32(b, p, cNegSize)
			if c != nil {
				return n, c
			}
			size, p = s, p+n
		}
		return cSkipElems(b, off, p, int64(size), et, 0, depth, maxDepth)
	case ctMap:
		depth++
		if depth > maxDepth {
			return off, cTooDeep
		}
		size, n, c := readSize32(b, off, cNegSize)
		if c != nil {
			return n, c
		}
		p := off + n
		if size == 0 { // empty map: no key/value type byte
			return p, nil
		}
		if p >= len(b) {
			return p, cShortHeader
		}
		kt, vt := b[p]>>4, b[p]&0x0f
		if cMin[kt] == 0 || cMin[vt] == 0 {
			return p, cBadElemType
		}
		return cSkipElems(b, off, p+1, int64(size), kt, vt, depth, maxDepth)
	}
	return off, cBadElemType // unreachable for validated types
}

func cSkipElems(b []byte, hdr, off int, size int64, et, vt uint8, depth, maxDepth int) (int, *cause) {
	if size == 0 {
		return off, nil
	}
	per := int64(cMin[et])
	fixed := cFixed[et]
	if vt != 0 {
		per += int64(cMin[vt])
		fixed = fixed && cFixed[vt]
	}
	if size*per > int64(len(b)-off) {
		return hdr, cShortElems
	}
	if fixed {
		return off + int(size*per), nil
	}
	var c *cause
	for i := int64(0); i < size; i++ {
		if off, c = cSkipValue(b, off, et, depth, maxDepth); c != nil {
			return off, c
		}
		if vt != 0 {
			if off, c = cSkipValue(b, off, vt, depth, maxDepth); c != nil {
				return off, c
			}
		}
	}
	return off, nil
}
