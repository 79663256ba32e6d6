// Package dubbo is a MOSN XProtocol codec for Dubbo 2 (the "dubbo" protocol
// with hessian2 serialization).
//
// It decodes only what routing needs (service path, version, method,
// parameter types, attachments) and forwards every other byte untouched. The
// arguments are stepped over with an allocation-free hessian2 reader, never
// deserialized. On the way out only the request id is patched, and when a
// filter changed an attachment, only the attachment map is re-encoded.
//
// Files: types.go (wire constants), frame.go (the frame and its headers),
// decoder.go, encoder.go, protocol.go (XProtocol: heartbeat, hijack),
// mapping.go (status mapping both ways), matcher.go (magic for Auto),
// api.go (the XProtocolCodec registered with MOSN), config.go.
package dubbo

import (
	"errors"

	"mosn.io/api"

	"github.com/meshproto/meshproto/protocols/rpcmeta"
)

// ProtocolName is the name used in MOSN configuration ("downstream_protocol").
const ProtocolName api.ProtocolName = "dubbo"

// Header layout, from the Dubbo 2 protocol specification ("Protocol Details"):
//
//	0-1   magic 0xdabb
//	2     flag: 0x80 request, 0x40 two-way, 0x20 event, low 5 bits serialization id
//	3     status (responses only)
//	4-11  request id, big endian
//	12-15 body length, big endian, signed 32 bit
const (
	HeaderLen = 16

	magicHigh = 0xda
	magicLow  = 0xbb

	flagIdx   = 2
	statusIdx = 3
	idIdx     = 4
	lenIdx    = 12

	FlagRequest       byte = 0x80
	FlagTwoWay        byte = 0x40
	FlagEvent         byte = 0x20
	serializationMask byte = 0x1f

	// SerializationHessian2 is the only serialization whose body this codec
	// reads. Frames in other serializations are forwarded without metadata.
	SerializationHessian2 byte = 2
)

// Response status codes (org.apache.dubbo.remoting.exchange.Response).
const (
	StatusOK                  byte = 20
	StatusClientTimeout       byte = 30
	StatusServerTimeout       byte = 31
	StatusBadRequest          byte = 40
	StatusBadResponse         byte = 50
	StatusServiceNotFound     byte = 60
	StatusServiceError        byte = 70
	StatusServerError         byte = 80
	StatusClientError         byte = 90
	StatusThreadpoolExhausted byte = 100
)

// Response body types, the first value of an OK response body
// (org.apache.dubbo.rpc.protocol.dubbo.DubboCodec RESPONSE_*).
const (
	RespWithException            = 0
	RespValue                    = 1
	RespNullValue                = 2
	RespWithExceptionAttachments = 3
	RespValueAttachments         = 4
	RespNullValueAttachments     = 5
)

// Attachment keys with a meaning for routing (Dubbo's CommonConstants).
const (
	attachInterface = "interface"
	attachVersion   = "version"
	attachGroup     = "group"
	attachTimeout   = "timeout"
)

// readonlyEvent is the payload of the event a provider sends when it shuts
// down: hessian2 string "R" (a one-char compact string).
var readonlyEvent = []byte{0x01, 'R'}

// ConnError and StreamError are the shared meshproto decode errors.
type (
	ConnError   = rpcmeta.ConnError
	StreamError = rpcmeta.StreamError
)

// ErrFrameTooLarge is wrapped by the ConnError for a frame over the limit.
var ErrFrameTooLarge = errors.New("frame exceeds size limit")
