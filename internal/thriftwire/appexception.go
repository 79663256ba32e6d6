package thriftwire

import (
	"encoding/binary"
	"errors"
)

var errAppException = errors.New("thriftwire: unreadable TApplicationException")

// ApplicationExceptionType reads the type (field 2, i32) of the
// TApplicationException struct at b[off:], stepping over its message
// (field 1, string): what a proxy needs to map an EXCEPTION reply to a
// status. Anything else in the struct ends the walk: the type then stays
// ExcUnknown, which is what a client would make of it too.
func ApplicationExceptionType(p Proto, b []byte, off int) (int32, error) {
	lastID := int16(0)
	for off < len(b) {
		var id int16
		var typ byte // binary type numbering
		if p == Binary {
			typ = b[off]
			if typ == byte(TypeStop) {
				break
			}
			if off+3 > len(b) {
				return 0, errAppException
			}
			id = int16(binary.BigEndian.Uint16(b[off+1:]))
			off += 3
		} else {
			h := b[off]
			if h == 0 {
				break
			}
			off++
			switch h & 0x0f {
			case 8:
				typ = byte(TypeString)
			case 5:
				typ = byte(TypeI32)
			default:
				return 0, errAppException
			}
			if delta := int16(h >> 4); delta != 0 {
				id = lastID + delta
			} else {
				v, n, err := ReadVarint32(b[off:])
				if err != nil {
					return 0, errAppException
				}
				id, off = int16(int32(v>>1)^-int32(v&1)), off+n
			}
			lastID = id
		}
		switch Type(typ) {
		case TypeString:
			var l int
			if p == Binary {
				if off+4 > len(b) {
					return 0, errAppException
				}
				l, off = int(int32(binary.BigEndian.Uint32(b[off:]))), off+4
			} else {
				v, n, err := ReadVarint32(b[off:])
				if err != nil {
					return 0, errAppException
				}
				l, off = int(v), off+n
			}
			if l < 0 || l > len(b)-off {
				return 0, errAppException
			}
			off += l
		case TypeI32:
			var v int32
			if p == Binary {
				if off+4 > len(b) {
					return 0, errAppException
				}
				v, off = int32(binary.BigEndian.Uint32(b[off:])), off+4
			} else {
				u, n, err := ReadVarint32(b[off:])
				if err != nil {
					return 0, errAppException
				}
				v, off = int32(u>>1)^-int32(u&1), off+n
			}
			if id == 2 {
				return v, nil
			}
		default:
			return 0, errAppException
		}
	}
	return ExcUnknown, nil
}
