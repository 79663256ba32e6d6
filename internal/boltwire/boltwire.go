// Package boltwire reads SOFA Bolt frames (v1, and v2's framing) without
// copying: the fixed header, the frame length with a bound, and the
// header map as a view over the frame's bytes. It is the wire half of a
// Bolt codec; nothing here knows MOSN.
//
// Bolt v1 request header (big-endian, 22 bytes): proto(1)=1 type(1)
// cmdcode(2) ver2(1) requestId(4) codec(1) timeout(4) classLen(2)
// headerLen(2) contentLen(4); a response has respStatus(2) in place of
// timeout (20 bytes). Then class name, header map, content. Bolt v2 adds
// ver1(1) after proto, switch(1) after codec, and a 4-byte CRC32 after the
// content when switch bit 0 is set. The facts come from sofa-bolt's
// RpcProtocol(V2), sofa-bolt-node and frames captured from sofa-rpc-node
// 2.10.0 (examples/bolt/fixtures).
package boltwire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Protocol versions (the first byte).
const (
	ProtoV1 byte = 1
	ProtoV2 byte = 2
)

// Frame types.
const (
	TypeResponse byte = 0
	TypeRequest  byte = 1
	TypeOneway   byte = 2
)

// Command codes.
const (
	CmdHeartbeat uint16 = 0
	CmdRequest   uint16 = 1
	CmdResponse  uint16 = 2
)

// Response statuses sofa-bolt defines (ResponseStatus).
const (
	StatusSuccess                 uint16 = 0x0000
	StatusError                   uint16 = 0x0001
	StatusServerException         uint16 = 0x0002
	StatusUnknown                 uint16 = 0x0003
	StatusServerThreadpool        uint16 = 0x0004 // server busy
	StatusErrorComm               uint16 = 0x0005
	StatusNoProcessor             uint16 = 0x0006
	StatusTimeout                 uint16 = 0x0007
	StatusClientSendError         uint16 = 0x0008
	StatusCodecException          uint16 = 0x0009
	StatusConnectionClosed        uint16 = 0x0010
	StatusServerSerialException   uint16 = 0x0011
	StatusServerDeserialException uint16 = 0x0012
)

// Errors; every error wraps one of them.
var (
	ErrProtocol = errors.New("bolt: not a Bolt frame")
	ErrTooLarge = errors.New("bolt: frame too large")
	ErrHeaders  = errors.New("bolt: malformed header map")
)

// Header is a frame's fixed header.
type Header struct {
	Proto      byte
	Ver1       byte // v2 only
	Type       byte
	CmdCode    uint16
	Ver2       byte
	RequestID  uint32
	Codec      byte
	Switch     byte   // v2 only; bit 0: a CRC32 follows the content
	Timeout    int32  // requests
	Status     uint16 // responses
	ClassLen   uint16
	HeaderLen  uint16
	ContentLen uint32
	// Len is the fixed header's size; FrameLen the whole frame's.
	Len, FrameLen int
}

// IsRequest reports a request or oneway request (heartbeats included).
func (h *Header) IsRequest() bool { return h.Type == TypeRequest || h.Type == TypeOneway }

// IsHeartbeat reports a heartbeat (request or its ack).
func (h *Header) IsHeartbeat() bool { return h.CmdCode == CmdHeartbeat }

// Peek reads the fixed header at the start of b. It returns (nil, nil)
// while b is too short to say more, and an error when the bytes are no
// Bolt frame or the frame would exceed max bytes (0: no bound).
func Peek(b []byte, max int) (*Header, error) {
	var h Header
	ok, err := h.Read(b, max)
	if !ok || err != nil {
		return nil, err
	}
	return &h, nil
}

// Read is Peek into h, which a decode loop keeps so that it allocates
// nothing: ok is false while b is too short.
func (h *Header) Read(b []byte, max int) (ok bool, err error) {
	if len(b) < 1 {
		return false, nil
	}
	*h = Header{Proto: b[0]}
	var req, resp int // fixed header sizes
	switch h.Proto {
	case ProtoV1:
		req, resp = 22, 20
	case ProtoV2:
		req, resp = 24, 22
	default:
		return false, fmt.Errorf("%w: protocol byte 0x%02x", ErrProtocol, b[0])
	}
	i := 1
	if h.Proto == ProtoV2 {
		if len(b) < 2 {
			return false, nil
		}
		h.Ver1 = b[1]
		i = 2
	}
	if len(b) < i+1 {
		return false, nil
	}
	h.Type = b[i]
	switch h.Type {
	case TypeRequest, TypeOneway:
		h.Len = req
	case TypeResponse:
		h.Len = resp
	default:
		return false, fmt.Errorf("%w: type %d", ErrProtocol, h.Type)
	}
	if len(b) < h.Len {
		return false, nil
	}
	h.CmdCode = binary.BigEndian.Uint16(b[i+1:])
	h.Ver2 = b[i+3]
	h.RequestID = binary.BigEndian.Uint32(b[i+4:])
	h.Codec = b[i+8]
	j := i + 9
	if h.Proto == ProtoV2 {
		h.Switch = b[j]
		j++
	}
	if h.IsRequest() {
		h.Timeout = int32(binary.BigEndian.Uint32(b[j:]))
		j += 4
	} else {
		h.Status = binary.BigEndian.Uint16(b[j:])
		j += 2
	}
	h.ClassLen = binary.BigEndian.Uint16(b[j:])
	h.HeaderLen = binary.BigEndian.Uint16(b[j+2:])
	h.ContentLen = binary.BigEndian.Uint32(b[j+4:])
	if h.CmdCode > CmdResponse {
		return false, fmt.Errorf("%w: command code %d", ErrProtocol, h.CmdCode)
	}
	if h.Switch > 1 {
		// Only bit 0 (CRC) is defined; a peer reading other bits its own
		// way is not to be sent a frame the proxy understood differently.
		return false, fmt.Errorf("%w: switch 0x%02x", ErrProtocol, h.Switch)
	}
	total := uint64(h.Len) + uint64(h.ClassLen) + uint64(h.HeaderLen) + uint64(h.ContentLen)
	if h.Proto == ProtoV2 && h.Switch&1 != 0 {
		total += 4
	}
	if max > 0 && total > uint64(max) {
		return false, fmt.Errorf("%w: %d bytes (max %d)", ErrTooLarge, total, max)
	}
	h.FrameLen = int(total)
	return true, nil
}

// Parts are the variable sections of a whole frame, slices of it.
type Parts struct {
	Class, Headers, Content []byte
}

// Split returns the sections of frame, which holds exactly h.FrameLen
// bytes read by Peek.
func Split(h *Header, frame []byte) Parts {
	c := h.Len
	hd := c + int(h.ClassLen)
	ct := hd + int(h.HeaderLen)
	return Parts{Class: frame[c:hd], Headers: frame[hd:ct], Content: frame[ct : ct+int(h.ContentLen)]}
}

// RangeHeaders calls fn for each key and value of a Bolt header map
// (int32 length-prefixed strings, key then value), slices of b, and stops
// when fn returns false. A truncated or negative length is an error.
func RangeHeaders(b []byte, fn func(k, v []byte) bool) error {
	for len(b) > 0 {
		k, rest, err := lpString(b)
		if err != nil {
			return fmt.Errorf("%w: key: %v", ErrHeaders, err)
		}
		v, rest, err := lpString(rest)
		if err != nil {
			return fmt.Errorf("%w: value of %q: %v", ErrHeaders, k, err)
		}
		b = rest
		if !fn(k, v) {
			return nil
		}
	}
	return nil
}

// AppendHeader appends one header map entry.
func AppendHeader(b []byte, k, v string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(k)))
	b = append(b, k...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
	return append(b, v...)
}

func lpString(b []byte) (s, rest []byte, err error) {
	if len(b) < 4 {
		return nil, nil, errors.New("truncated length")
	}
	n := int32(binary.BigEndian.Uint32(b))
	if n < 0 {
		// sofa-bolt writes -1 for a null string.
		if n == -1 {
			return nil, b[4:], nil
		}
		return nil, nil, fmt.Errorf("length %d", n)
	}
	if int(n) > len(b)-4 {
		return nil, nil, fmt.Errorf("length %d past the end (%d left)", n, len(b)-4)
	}
	return b[4 : 4+n], b[4+n:], nil
}

// SetRequestID rewrites the request id of a whole frame in place (the
// proxy renumbers requests on a multiplexed upstream connection).
func SetRequestID(frame []byte, proto byte, id uint32) {
	off := 5
	if proto == ProtoV2 {
		off = 6
	}
	binary.BigEndian.PutUint32(frame[off:], id)
}
