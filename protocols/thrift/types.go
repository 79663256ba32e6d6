// Package thrift is a MOSN XProtocol codec for Apache Thrift: framed,
// unframed (buffered) and THeader transports, binary (strict and
// non-strict) and compact protocols, detected per frame.
//
// It reads only the message header (name, type, sequence id), the THeader
// info headers, and for replies the first field of the result struct (to
// tell a success from a declared exception). The struct itself is never
// decoded: framed and THeader messages are bounded by their length, and an
// unframed message is stepped over with an allocation-free skipper.
//
// Files: types.go (wire constants), config.go, detect.go (which transport
// and protocol, and ProtocolMatch for Auto listeners), theader.go (the
// 0x0FFF header transport), frame.go (the frame and its headers),
// decoder.go, encoder.go, protocol.go (XProtocol: hijack), mapping.go
// (status mapping both ways), api.go (the XProtocolCodec).
package thrift

import (
	"mosn.io/api"

	"github.com/meshproto/meshproto/internal/thriftwire"
	"github.com/meshproto/meshproto/protocols/rpcmeta"
)

// ProtocolName is the name used in MOSN configuration.
const ProtocolName api.ProtocolName = "thrift"

// Transport is how messages are delimited on the connection.
type Transport uint8

// Transports.
const (
	// Framed: a 4-byte big-endian length, then the message.
	Framed Transport = iota + 1
	// Unframed: the message alone (TBufferedTransport); its end is found
	// by stepping over the struct.
	Unframed
	// Header: THeader, a length, the 0x0FFF magic, a header with info
	// key/values, then the message (doc/specs/HeaderFormat.md).
	Header
)

func (t Transport) String() string {
	switch t {
	case Framed:
		return "framed"
	case Unframed:
		return "unframed"
	case Header:
		return "header"
	}
	return "unknown"
}

// Message types and TApplicationException types, as thriftwire reads
// and writes them.
const (
	MessageCall      = thriftwire.MessageCall
	MessageReply     = thriftwire.MessageReply
	MessageException = thriftwire.MessageException
	MessageOneway    = thriftwire.MessageOneway

	ExcUnknown               = thriftwire.ExcUnknown
	ExcUnknownMethod         = thriftwire.ExcUnknownMethod
	ExcInvalidMessageType    = thriftwire.ExcInvalidMessageType
	ExcWrongMethodName       = thriftwire.ExcWrongMethodName
	ExcBadSequenceID         = thriftwire.ExcBadSequenceID
	ExcMissingResult         = thriftwire.ExcMissingResult
	ExcInternalError         = thriftwire.ExcInternalError
	ExcProtocolError         = thriftwire.ExcProtocolError
	ExcInvalidTransform      = thriftwire.ExcInvalidTransform
	ExcInvalidProtocol       = thriftwire.ExcInvalidProtocol
	ExcUnsupportedClientType = thriftwire.ExcUnsupportedClientType
)

// Native statuses of a response (x-rpc-status): a reply whose result is
// the return value, a reply carrying a declared exception (result field id
// >= 1), or an EXCEPTION message (TApplicationException).
const (
	StatusSuccess              uint32 = 0
	StatusDeclaredException    uint32 = 1
	StatusApplicationException uint32 = 2
)

// THeader constants (doc/specs/HeaderFormat.md).
const (
	headerMagic      = 0x0FFF
	headerProtoBin   = 0
	headerProtoComp  = 2
	infoKeyValue     = 1
	infoPKeyValue    = 2
	headerFixedLen   = 14 // length(4) magic(2) flags(2) seq(4) header words(2)
	maxHeaderWords   = 0x3FFF
	frameLenBytes    = 4
	strictVersionHi  = 0x80
	strictVersionLo  = 0x01
	compactProtoID   = 0x82
	compactVersion   = 1
	compactVerMask   = 0x1f
	maxNonStrictName = 1024
)

// ConnError and StreamError are the shared meshproto decode errors.
type (
	ConnError   = rpcmeta.ConnError
	StreamError = rpcmeta.StreamError
)

func connErr(reason string, err error) error {
	return &ConnError{Protocol: string(ProtocolName), Reason: reason, Err: err}
}
