// Package thriftwire is an allocation-free reader (and a tiny writer) for the
// Apache Thrift Binary and Compact protocols, written for a proxy codec that
// routes and answers Thrift messages without ever decoding payload structs
// into objects.
//
// The reader works on a byte slice that holds (a prefix of) one message:
//
//   - ReadMessageHeader decodes the message header and reports where the
//     sequence id and the body live, so a proxy can rewrite the seqid in
//     place (binary) or re-encode the header (compact);
//   - SkipStruct steps over the body struct, validating its framing only
//     (types, lengths, counts, nesting) to find where the message ends;
//   - FirstField peeks at the first field of a reply struct to tell a
//     successful result (field 0) from a declared exception (field >= 1).
//
// Every function distinguishes "need more bytes" (ErrShort: the input is a
// valid prefix of a message) from "this can never become valid Thrift"
// (ErrMalformed), so a streaming codec can wait on the former and close the
// connection on the latter. When the caller already knows the input is a
// whole frame (framed transport, THeader), ErrShort means the frame is
// truncated and must be treated as malformed too.
//
// The wire formats follow the Apache Thrift specifications
// doc/specs/thrift-binary-protocol.md, thrift-compact-protocol.md and
// HeaderFormat.md (for the varint shared with THeader).
package thriftwire

import (
	"errors"
	"fmt"
)

// Proto selects the Thrift protocol encoding.
type Proto uint8

const (
	// Binary is TBinaryProtocol (strict or non-strict message header).
	Binary Proto = iota
	// Compact is TCompactProtocol.
	Compact
)

// String implements fmt.Stringer.
func (p Proto) String() string {
	switch p {
	case Binary:
		return "binary"
	case Compact:
		return "compact"
	}
	return fmt.Sprintf("Proto(%d)", uint8(p))
}

// Type is a Thrift type id, numbered as on the wire in the binary protocol.
// FirstField reports compact types translated to these values.
type Type uint8

// Thrift type ids (binary protocol numbering).
const (
	TypeStop   Type = 0
	TypeBool   Type = 2
	TypeByte   Type = 3 // i8
	TypeDouble Type = 4
	TypeI16    Type = 6
	TypeI32    Type = 8
	TypeI64    Type = 10
	TypeString Type = 11 // string and binary
	TypeStruct Type = 12 // struct, union, exception
	TypeMap    Type = 13
	TypeSet    Type = 14
	TypeList   Type = 15
	TypeUUID   Type = 16
)

var typeNames = [...]string{
	TypeStop: "stop", TypeBool: "bool", TypeByte: "byte", TypeDouble: "double",
	TypeI16: "i16", TypeI32: "i32", TypeI64: "i64", TypeString: "string",
	TypeStruct: "struct", TypeMap: "map", TypeSet: "set", TypeList: "list",
	TypeUUID: "uuid",
}

// String implements fmt.Stringer.
func (t Type) String() string {
	if int(t) < len(typeNames) && typeNames[t] != "" {
		return typeNames[t]
	}
	return fmt.Sprintf("Type(%d)", uint8(t))
}

// Message types (MessageHeader.Type).
const (
	MessageCall      uint8 = 1
	MessageReply     uint8 = 2
	MessageException uint8 = 3
	MessageOneway    uint8 = 4
)

// TApplicationException type codes, for AppendApplicationException.
const (
	ExcUnknown               int32 = 0
	ExcUnknownMethod         int32 = 1
	ExcInvalidMessageType    int32 = 2
	ExcWrongMethodName       int32 = 3
	ExcBadSequenceID         int32 = 4
	ExcMissingResult         int32 = 5
	ExcInternalError         int32 = 6
	ExcProtocolError         int32 = 7
	ExcInvalidTransform      int32 = 8
	ExcInvalidProtocol       int32 = 9
	ExcUnsupportedClientType int32 = 10
)

const (
	// DefaultMaxDepth is the nesting limit SkipStruct uses when given
	// maxDepth <= 0. The top-level struct is depth 1; every nested struct,
	// list, set or map adds one.
	DefaultMaxDepth = 64
	// MaxNameLen bounds a message (method) name. A longer declared length
	// is reported as ErrMalformed instead of waiting for up to 2 GiB.
	MaxNameLen = 4096
)

// Sentinel errors. Every error returned by this package wraps exactly one of
// them (test with errors.Is).
var (
	// ErrShort means the input ends before the item is complete but what is
	// there is a valid prefix: read more bytes and retry.
	ErrShort = errors.New("short thrift data")
	// ErrMalformed means the bytes can never become valid Thrift.
	ErrMalformed = errors.New("malformed thrift data")
	// ErrTooDeep means structs/containers nest deeper than the limit.
	ErrTooDeep = errors.New("thrift nesting too deep")
)

// cause is an internal, statically allocated failure description. The
// hot path passes *cause values around (no allocation); wrap turns one into
// the package's error format only once, at the API boundary.
type cause struct {
	what string
	kind error
}

func short(what string) *cause     { return &cause{what, ErrShort} }
func malformed(what string) *cause { return &cause{what, ErrMalformed} }

var (
	cTooDeep        = &cause{"nesting deeper than limit", ErrTooDeep}
	cShortField     = short("truncated field header")
	cShortValue     = short("truncated value")
	cShortLen       = short("truncated length prefix")
	cShortBytes     = short("truncated string/binary")
	cShortHeader    = short("truncated container header")
	cShortElems     = short("container elements exceed remaining bytes")
	cShortVarint    = short("truncated varint")
	cShortMsg       = short("truncated message header")
	cShortName      = short("truncated message name")
	cBadFieldType   = malformed("invalid field type")
	cBadElemType    = malformed("invalid container element type")
	cBadFieldID     = malformed("field id out of i16 range")
	cNegLen         = malformed("negative length")
	cNegSize        = malformed("negative container size")
	cVarintLong     = malformed("varint too long")
	cVarintOverflow = malformed("varint overflows")
	cBadVersion     = malformed("bad protocol id or version")
	cBadMsgType     = malformed("invalid message type")
	cNameTooLong    = malformed("message name too long")
	cBadName        = malformed("implausible message name")
	cBadProto       = malformed("unknown protocol")
	cBadOffset      = malformed("offset out of range")
)

// wrap formats c at offset off of b as the package's error.
func wrap(c *cause, b []byte, off int) error {
	if off >= 0 && off < len(b) {
		return fmt.Errorf("thriftwire: %s (byte 0x%02x) at offset %d: %w", c.what, b[off], off, c.kind)
	}
	return fmt.Errorf("thriftwire: %s at offset %d: %w", c.what, off, c.kind)
}
