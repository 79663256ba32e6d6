package thriftwire

import (
	"encoding/binary"
	"fmt"
	"math"
)

// A tiny test-only Thrift writer. Values are described with Go types:
//
//	bool, int8, int16, int32, int64, float64, string, []byte, tUUID,
//	tStruct (fields), tList / tSet (element type + elements),
//	tMap (key type, value type, alternating keys and values).
//
// It follows the specs: compact bool fields are folded into the field
// header, compact bools inside containers are one byte, compact list
// element type for bool is cBoolElem.
type (
	tStruct []tField
	tField  struct {
		id int16
		v  any
	}
	tList struct {
		et    Type
		elems []any
	}
	tSet tList
	tMap struct {
		kt, vt Type
		kv     []any // k0, v0, k1, v1, ...
	}
	tUUID [16]byte
)

// cBoolElem is the compact element type the test writer uses for bools:
// the spec says 2 (BOOLEAN_FALSE); hand fixtures also cover 1.
const cBoolElem = ctBoolFalse

func typeOf(v any) Type {
	switch v.(type) {
	case bool:
		return TypeBool
	case int8:
		return TypeByte
	case int16:
		return TypeI16
	case int32:
		return TypeI32
	case int64:
		return TypeI64
	case float64:
		return TypeDouble
	case string, []byte:
		return TypeString
	case tUUID:
		return TypeUUID
	case tStruct:
		return TypeStruct
	case tList:
		return TypeList
	case tSet:
		return TypeSet
	case tMap:
		return TypeMap
	}
	panic(fmt.Sprintf("test writer: unsupported %T", v))
}

var typeToCompact = map[Type]uint8{
	TypeBool: cBoolElem, TypeByte: ctByte, TypeI16: ctI16, TypeI32: ctI32, TypeI64: ctI64,
	TypeDouble: ctDouble, TypeString: ctBinary, TypeList: ctList, TypeSet: ctSet,
	TypeMap: ctMap, TypeStruct: ctStruct, TypeUUID: ctUUID,
}

func appendVarint64(dst []byte, v uint64) []byte {
	for v >= 0x80 {
		dst = append(dst, byte(v)|0x80)
		v >>= 7
	}
	return append(dst, byte(v))
}

func encStruct(p Proto, dst []byte, s tStruct) []byte {
	last := int16(0)
	for _, f := range s {
		t := typeOf(f.v)
		if p == Binary {
			dst = append(dst, byte(t))
			dst = binary.BigEndian.AppendUint16(dst, uint16(f.id))
			dst = encValue(p, dst, f.v)
			continue
		}
		ct := typeToCompact[t]
		if t == TypeBool {
			ct = ctBoolFalse
			if f.v.(bool) {
				ct = ctBoolTrue
			}
		}
		if d := int(f.id) - int(last); d > 0 && d <= 15 {
			dst = append(dst, byte(d)<<4|ct)
		} else {
			dst = append(dst, ct)
			dst = appendZigzag32(dst, int32(f.id))
		}
		last = f.id
		if t != TypeBool {
			dst = encValue(p, dst, f.v)
		}
	}
	return append(dst, 0)
}

func encCollHeader(p Proto, dst []byte, et Type, n int) []byte {
	if p == Binary {
		dst = append(dst, byte(et))
		return binary.BigEndian.AppendUint32(dst, uint32(n))
	}
	if n < 15 {
		return append(dst, byte(n)<<4|typeToCompact[et])
	}
	dst = append(dst, 0xf0|typeToCompact[et])
	return AppendVarint32(dst, uint32(n))
}

// encValue encodes v in value position (a non-bool field value or a
// container element).
func encValue(p Proto, dst []byte, v any) []byte {
	c := p == Compact
	switch x := v.(type) {
	case bool:
		if x {
			return append(dst, 1)
		}
		return append(dst, 0)
	case int8:
		return append(dst, byte(x))
	case int16:
		if c {
			return appendZigzag32(dst, int32(x))
		}
		return binary.BigEndian.AppendUint16(dst, uint16(x))
	case int32:
		if c {
			return appendZigzag32(dst, x)
		}
		return binary.BigEndian.AppendUint32(dst, uint32(x))
	case int64:
		if c {
			return appendVarint64(dst, uint64(x<<1)^uint64(x>>63))
		}
		return binary.BigEndian.AppendUint64(dst, uint64(x))
	case float64:
		if c {
			return binary.LittleEndian.AppendUint64(dst, math.Float64bits(x))
		}
		return binary.BigEndian.AppendUint64(dst, math.Float64bits(x))
	case string:
		return encValue(p, dst, []byte(x))
	case []byte:
		if c {
			dst = AppendVarint32(dst, uint32(len(x)))
		} else {
			dst = binary.BigEndian.AppendUint32(dst, uint32(len(x)))
		}
		return append(dst, x...)
	case tUUID:
		return append(dst, x[:]...)
	case tStruct:
		return encStruct(p, dst, x)
	case tList:
		dst = encCollHeader(p, dst, x.et, len(x.elems))
		for _, e := range x.elems {
			dst = encValue(p, dst, e)
		}
		return dst
	case tSet:
		return encValue(p, dst, tList(x))
	case tMap:
		n := len(x.kv) / 2
		if c {
			dst = AppendVarint32(dst, uint32(n))
			if n > 0 {
				dst = append(dst, typeToCompact[x.kt]<<4|typeToCompact[x.vt])
			}
		} else {
			dst = append(dst, byte(x.kt), byte(x.vt))
			dst = binary.BigEndian.AppendUint32(dst, uint32(n))
		}
		for _, e := range x.kv {
			dst = encValue(p, dst, e)
		}
		return dst
	}
	panic(fmt.Sprintf("test writer: unsupported %T", v))
}
