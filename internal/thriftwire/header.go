package thriftwire

import "encoding/binary"

const (
	binaryVersionMask = 0xffff0000
	binaryVersion1    = 0x80010000
	compactProtocolID = 0x82
	compactVersion    = 1
	compactVersionMsk = 0x1f
)

// MessageHeader is the decoded start of a message.
type MessageHeader struct {
	Name     []byte // slice of the input (capacity clipped), no copy
	Type     uint8  // MessageCall, MessageReply, MessageException, MessageOneway
	SeqID    int32
	Strict   bool // binary only: strict (versioned) header
	SeqIDOff int  // offset of the seqid encoding in the input
	SeqIDLen int  // bytes of the seqid encoding: 4 (binary) or 1-5 (compact varint)
	BodyOff  int  // offset where the message's struct begins
}

// ReadMessageHeader parses a message header at the start of b.
//
// Binary: strict = i32 (0x8001 << 16 | type), string name, i32 seqid
// (the third byte is ignored, the fourth must be the type 1..4); non-strict
// = string name, byte type, i32 seqid. Compact: 0x82, (type<<5 | 1),
// varint seqid (the uint32 bits of the int32, not zigzag), varint name
// length, name. The seqid comes before the name in compact and after it in
// binary.
//
// It returns ErrShort when b is a valid prefix of a header and ErrMalformed
// otherwise; names longer than MaxNameLen are malformed.
func ReadMessageHeader(p Proto, b []byte) (MessageHeader, error) {
	var (
		h MessageHeader
		c *cause
		o int
	)
	switch p {
	case Binary:
		h, o, c = readBinaryHeader(b)
	case Compact:
		h, o, c = readCompactHeader(b)
	default:
		c = cBadProto
	}
	if c != nil {
		return MessageHeader{}, wrap(c, b, o)
	}
	return h, nil
}

func validMsgType(t uint8) bool { return t >= MessageCall && t <= MessageOneway }

func readBinaryHeader(b []byte) (MessageHeader, int, *cause) {
	var h MessageHeader
	if len(b) < 4 {
		// Validate what is there so garbage is not mistaken for a prefix.
		if len(b) >= 1 && b[0]&0x80 != 0 {
			if b[0] != 0x80 || (len(b) >= 2 && b[1] != 0x01) {
				return h, 0, cBadVersion
			}
		} else if minNameLen(b) > MaxNameLen {
			return h, 0, cNameTooLong
		}
		return h, len(b), cShortMsg
	}
	first := binary.BigEndian.Uint32(b)
	off := 0
	if first&0x80000000 != 0 {
		if first&binaryVersionMask != binaryVersion1 {
			return h, 0, cBadVersion
		}
		h.Strict = true
		h.Type = b[3] // the 5 leading bits of this byte must be 0
		if !validMsgType(h.Type) {
			return h, 3, cBadMsgType
		}
		if len(b) < 8 {
			return h, 4, cShortMsg
		}
		off = 4
	}
	nameLen := binary.BigEndian.Uint32(b[off:]) // < 2^31 here in both forms
	if nameLen > MaxNameLen {
		return h, off, cNameTooLong
	}
	nameOff := off + 4
	if uint32(len(b)-nameOff) < nameLen {
		return h, nameOff, cShortName
	}
	end := nameOff + int(nameLen)
	h.Name = b[nameOff:end:end]
	off = end
	if !h.Strict {
		if off >= len(b) {
			return h, off, cShortMsg
		}
		h.Type = b[off]
		if !validMsgType(h.Type) {
			return h, off, cBadMsgType
		}
		off++
	}
	if len(b)-off < 4 {
		return h, off, cShortMsg
	}
	h.SeqID = int32(binary.BigEndian.Uint32(b[off:]))
	h.SeqIDOff, h.SeqIDLen = off, 4
	h.BodyOff = off + 4
	return h, 0, nil
}

func readCompactHeader(b []byte) (MessageHeader, int, *cause) {
	var h MessageHeader
	if len(b) < 1 {
		return h, 0, cShortMsg
	}
	if b[0] != compactProtocolID {
		return h, 0, cBadVersion
	}
	if len(b) < 2 {
		return h, 1, cShortMsg
	}
	if b[1]&compactVersionMsk != compactVersion {
		return h, 1, cBadVersion
	}
	h.Type = b[1] >> 5
	if !validMsgType(h.Type) {
		return h, 1, cBadMsgType
	}
	seq, n, c := uvarint32(b, 2)
	if c != nil {
		return h, n, c
	}
	h.SeqID = int32(seq)
	h.SeqIDOff, h.SeqIDLen = 2, n
	off := 2 + n
	nameLen, n, c := uvarint32(b, off)
	if c != nil {
		return h, n, c
	}
	if nameLen > MaxNameLen {
		return h, off, cNameTooLong
	}
	off += n
	if uint32(len(b)-off) < nameLen {
		return h, off, cShortName
	}
	end := off + int(nameLen)
	h.Name = b[off:end:end]
	h.BodyOff = end
	return h, 0, nil
}

// DetectProto guesses the protocol from the first bytes of a message:
// 0x80 0x01 is a strict binary header, 0x82 followed by a byte with version
// 1 and a valid message type is compact, and otherwise a plausible
// non-strict binary header (i32 name length 1..MaxNameLen, a name of
// printable ASCII without spaces, message type 1..4) is binary. It returns
// ErrShort when b is too short to decide and ErrMalformed when it matches
// none of them.
func DetectProto(b []byte) (Proto, error) {
	if len(b) == 0 {
		return 0, wrap(cShortMsg, b, 0)
	}
	switch b[0] {
	case 0x80:
		if len(b) < 2 {
			return 0, wrap(cShortMsg, b, 1)
		}
		if b[1] != 0x01 {
			return 0, wrap(cBadVersion, b, 1)
		}
		return Binary, nil
	case compactProtocolID:
		if len(b) < 2 {
			return 0, wrap(cShortMsg, b, 1)
		}
		if b[1]&compactVersionMsk != compactVersion || !validMsgType(b[1]>>5) {
			return 0, wrap(cBadVersion, b, 1)
		}
		return Compact, nil
	}
	// Non-strict binary: i32 name length, name, type byte.
	if len(b) < 4 {
		if minNameLen(b) > MaxNameLen {
			return 0, wrap(cBadName, b, 0)
		}
		return 0, wrap(cShortMsg, b, len(b))
	}
	n := int(binary.BigEndian.Uint32(b))
	if n < 1 || n > MaxNameLen {
		return 0, wrap(cBadName, b, 0)
	}
	for i := 4; i < 4+n; i++ {
		if i >= len(b) {
			return 0, wrap(cShortName, b, i)
		}
		if c := b[i]; c <= 0x20 || c >= 0x7f {
			return 0, wrap(cBadName, b, i)
		}
	}
	if len(b) <= 4+n {
		return 0, wrap(cShortMsg, b, 4+n)
	}
	if !validMsgType(b[4+n]) {
		return 0, wrap(cBadMsgType, b, 4+n)
	}
	return Binary, nil
}

// minNameLen is the smallest big-endian i32 that starts with the (fewer
// than 4) bytes of b.
func minNameLen(b []byte) uint64 {
	var v uint64
	for _, x := range b {
		v = v<<8 | uint64(x)
	}
	return v << (8 * uint(4-len(b)))
}
