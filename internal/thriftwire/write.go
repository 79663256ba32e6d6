package thriftwire

import "encoding/binary"

// AppendMessageHeader appends a message header to dst.
//
// Binary: strict writes i32 (0x80010000 | typ), the name as an i32-length
// string and the i32 seqid; non-strict writes the name, the type byte and
// the seqid. Compact (strict is ignored) writes 0x82, typ<<5 | 1, the seqid
// as a varint of its uint32 bits and the name as a varint-length string.
func AppendMessageHeader(p Proto, dst []byte, name string, typ uint8, seqID int32, strict bool) []byte {
	if p == Compact {
		dst = append(dst, compactProtocolID, typ<<5|compactVersion)
		dst = AppendVarint32(dst, uint32(seqID))
		dst = AppendVarint32(dst, uint32(len(name)))
		return append(dst, name...)
	}
	if strict {
		dst = binary.BigEndian.AppendUint32(dst, binaryVersion1|uint32(typ))
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(name)))
		dst = append(dst, name...)
	} else {
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(name)))
		dst = append(dst, name...)
		dst = append(dst, typ)
	}
	return binary.BigEndian.AppendUint32(dst, uint32(seqID))
}

// AppendApplicationException appends a TApplicationException struct
// {1: string message, 2: i32 type} followed by its STOP field. Sent as the
// body of a MessageException message it is what every Thrift client raises
// as an application (not IDL-declared) error; see the Exc* constants.
func AppendApplicationException(p Proto, dst []byte, message string, excType int32) []byte {
	if p == Compact {
		dst = append(dst, 1<<4|ctBinary) // field 1 (delta 1), binary
		dst = AppendVarint32(dst, uint32(len(message)))
		dst = append(dst, message...)
		dst = append(dst, 1<<4|ctI32) // field 2 (delta 1), i32
		dst = appendZigzag32(dst, excType)
		return append(dst, 0) // STOP
	}
	dst = append(dst, byte(TypeString), 0, 1)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(message)))
	dst = append(dst, message...)
	dst = append(dst, byte(TypeI32), 0, 2)
	dst = binary.BigEndian.AppendUint32(dst, uint32(excType))
	return append(dst, byte(TypeStop))
}
