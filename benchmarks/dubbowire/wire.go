// Package dubbowire is the minimal Dubbo 2 / hessian2 framing the benchmark
// peers need: a request with one ASCII string argument and string
// attachments, and a response carrying one string value. It allocates
// nothing per call beyond the caller's buffers, so the load generator and
// the provider cost as little CPU as possible next to the proxy under test.
//
// It handles only what it writes itself (ASCII strings, chunked past 65535 bytes,
// untyped string maps); it is not a general Dubbo implementation.
package dubbowire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Dubbo header constants.
const (
	HeaderLen = 16
	magicHi   = 0xda
	magicLo   = 0xbb

	flagRequest = 0x80
	flagTwoWay  = 0x40
	flagEvent   = 0x20
	hessian2    = 0x02

	// StatusOK is the response status of a successful call.
	StatusOK = 20

	respValue = 0x91 // hessian int 1: RESPONSE_VALUE

	// MaxBody bounds a frame body the peers accept.
	MaxBody = 8 << 20
)

// Errors.
var (
	ErrMagic  = errors.New("dubbowire: bad magic")
	ErrTooBig = errors.New("dubbowire: body too large")
	ErrFormat = errors.New("dubbowire: unsupported hessian value")
)

// Header is a decoded 16-byte header.
type Header struct {
	Flag, Status byte
	ID           uint64
	BodyLen      uint32
}

// IsRequest, IsTwoWay and IsEvent read the flag bits.
func (h Header) IsRequest() bool { return h.Flag&flagRequest != 0 }

// IsTwoWay reports the two-way bit.
func (h Header) IsTwoWay() bool { return h.Flag&flagTwoWay != 0 }

// IsEvent reports the event (heartbeat) bit.
func (h Header) IsEvent() bool { return h.Flag&flagEvent != 0 }

func putHeader(b []byte, flag, status byte, id uint64, bodyLen int) {
	b[0], b[1], b[2], b[3] = magicHi, magicLo, flag, status
	binary.BigEndian.PutUint64(b[4:12], id)
	binary.BigEndian.PutUint32(b[12:16], uint32(bodyLen))
}

// AppendString appends s as a hessian2 string. s must be ASCII (hessian
// counts UTF-16 units); longer than 65535 bytes, it is written in chunks.
func AppendString(b []byte, s string) []byte { return appendString(b, s) }

// AppendStringBytes is AppendString for a byte slice.
func AppendStringBytes(b []byte, s []byte) []byte { return appendString(b, s) }

func appendString[T string | []byte](b []byte, s T) []byte {
	for len(s) > maxChunk {
		b = append(b, 'R', byte(maxChunk>>8), byte(maxChunk&0xff))
		b = append(b, s[:maxChunk]...)
		s = s[maxChunk:]
	}
	n := len(s)
	switch {
	case n <= 31:
		b = append(b, byte(n))
	case n <= 1023:
		b = append(b, 0x30+byte(n>>8), byte(n))
	default:
		b = append(b, 'S', byte(n>>8), byte(n))
	}
	return append(b, s...)
}

// maxChunk is the longest hessian2 string chunk.
const maxChunk = 0xffff

// ReadString reads one hessian2 string (the forms AppendString writes, and
// 'N' as empty) at b[0:], returning its bytes and the rest of b. A chunked
// string's bytes are gathered into scratch (grown as needed), else they
// are a slice of b.
func ReadString(b []byte, scratch *[]byte) (s, rest []byte, err error) {
	chunked := false
	for {
		if len(b) == 0 {
			return nil, nil, io.ErrUnexpectedEOF
		}
		var n, hdr int
		final := true
		switch t := b[0]; {
		case t == 'N' && !chunked:
			return nil, b[1:], nil
		case t <= 0x1f:
			n, hdr = int(t), 1
		case t >= 0x30 && t <= 0x33:
			if len(b) < 2 {
				return nil, nil, io.ErrUnexpectedEOF
			}
			n, hdr = int(t-0x30)<<8|int(b[1]), 2
		case t == 'S' || t == 'R':
			if len(b) < 3 {
				return nil, nil, io.ErrUnexpectedEOF
			}
			n, hdr, final = int(b[1])<<8|int(b[2]), 3, t == 'S'
		default:
			return nil, nil, fmt.Errorf("%w: tag %#x", ErrFormat, t)
		}
		if len(b) < hdr+n {
			return nil, nil, io.ErrUnexpectedEOF
		}
		if final && !chunked {
			return b[hdr : hdr+n], b[hdr+n:], nil
		}
		if !chunked {
			if scratch == nil {
				return nil, nil, fmt.Errorf("%w: chunked string without scratch", ErrFormat)
			}
			*scratch = (*scratch)[:0]
			chunked = true
		}
		*scratch = append(*scratch, b[hdr:hdr+n]...)
		b = b[hdr+n:]
		if final {
			return *scratch, b, nil
		}
	}
}

// Request is what the load generator sends.
type Request struct {
	Service, Version, Method string
	// Attachments as key/value pairs, written in this order.
	Attachments [][2]string
}

// AppendRequest appends a two-way hessian2 request frame with one string
// argument to b. Besides req.Attachments it writes path, interface and
// version attachments, as Java Dubbo's invoker does.
func AppendRequest(b []byte, id uint64, req *Request, arg []byte) []byte {
	start := len(b)
	b = append(b, make([]byte, HeaderLen)...)
	b = AppendString(b, "2.0.2")
	b = AppendString(b, req.Service)
	b = AppendString(b, req.Version)
	b = AppendString(b, req.Method)
	b = AppendString(b, "Ljava/lang/String;")
	b = AppendStringBytes(b, arg)
	b = append(b, 'H')
	b = AppendString(b, "path")
	b = AppendString(b, req.Service)
	b = AppendString(b, "interface")
	b = AppendString(b, req.Service)
	b = AppendString(b, "version")
	b = AppendString(b, req.Version)
	for _, kv := range req.Attachments {
		b = AppendString(b, kv[0])
		b = AppendString(b, kv[1])
	}
	b = append(b, 'Z')
	putHeader(b[start:], flagRequest|flagTwoWay|hessian2, 0, id, len(b)-start-HeaderLen)
	return b
}

// AppendResponse appends an OK response frame whose value is the hessian
// string already encoded in encodedValue.
func AppendResponse(b []byte, id uint64, encodedValue []byte) []byte {
	start := len(b)
	b = append(b, make([]byte, HeaderLen)...)
	b = append(b, respValue)
	b = append(b, encodedValue...)
	putHeader(b[start:], hessian2, StatusOK, id, len(b)-start-HeaderLen)
	return b
}

// AppendHeartbeatResponse appends the answer to a heartbeat request.
func AppendHeartbeatResponse(b []byte, id uint64) []byte {
	start := len(b)
	b = append(b, make([]byte, HeaderLen)...)
	b = append(b, 'N')
	putHeader(b[start:], flagEvent|hessian2, StatusOK, id, 1)
	return b
}

// RequestArg returns the encoded first argument of a request body (the
// hessian bytes of the string, header included), so a provider can echo it
// without decoding. It expects exactly the fields AppendRequest writes.
func RequestArg(body []byte) ([]byte, error) {
	rest := body
	var err error
	var scratch []byte
	for i := 0; i < 5; i++ { // dubbo version, path, version, method, types
		if _, rest, err = ReadString(rest, &scratch); err != nil {
			return nil, err
		}
	}
	_, after, err := ReadString(rest, &scratch)
	if err != nil {
		return nil, err
	}
	return rest[:len(rest)-len(after)], nil
}

// ResponseValue returns the string value of an OK response body; a
// chunked value is gathered into scratch.
func ResponseValue(body []byte, scratch *[]byte) ([]byte, error) {
	if len(body) == 0 {
		return nil, io.ErrUnexpectedEOF
	}
	if body[0] != respValue && body[0] != 0x94 { // VALUE or VALUE_WITH_ATTACHMENTS
		return nil, fmt.Errorf("%w: response type %#x", ErrFormat, body[0])
	}
	s, _, err := ReadString(body[1:], scratch)
	return s, err
}

// Reader reads frames from a buffered connection into a reused buffer.
type Reader struct {
	r   *bufio.Reader
	hdr [HeaderLen]byte
	buf []byte
}

// NewReader wraps r with a 64 KiB buffer.
func NewReader(r io.Reader) *Reader { return &Reader{r: bufio.NewReaderSize(r, 64<<10)} }

// Next reads one frame. The body is valid until the next call.
func (r *Reader) Next() (Header, []byte, error) {
	if _, err := io.ReadFull(r.r, r.hdr[:]); err != nil {
		return Header{}, nil, err
	}
	if r.hdr[0] != magicHi || r.hdr[1] != magicLo {
		return Header{}, nil, ErrMagic
	}
	h := Header{
		Flag:    r.hdr[2],
		Status:  r.hdr[3],
		ID:      binary.BigEndian.Uint64(r.hdr[4:12]),
		BodyLen: binary.BigEndian.Uint32(r.hdr[12:16]),
	}
	if h.BodyLen > MaxBody {
		return h, nil, ErrTooBig
	}
	if cap(r.buf) < int(h.BodyLen) {
		r.buf = make([]byte, h.BodyLen)
	}
	body := r.buf[:h.BodyLen]
	if _, err := io.ReadFull(r.r, body); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return h, nil, err
	}
	return h, body, nil
}

// Buffered reports whether more bytes are already buffered (so a writer can
// batch its replies).
func (r *Reader) Buffered() int { return r.r.Buffered() }
