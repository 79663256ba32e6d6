// Package boltwire is the minimal SOFA Bolt v1 framing the benchmark peers
// need: a SOFARPC echo request as sofa-rpc-node 2.10 writes it (a hessian
// SofaRequest with two request props, service
// org.meshproto.demo.BoltEcho:1.0.0 in the header map) whose one string
// argument is the caller's bytes, and the SofaResponse carrying it back.
// The bytes around the argument are those of the captured fixtures in
// examples/bolt/fixtures (v1_request_echo_props, v1_response_ok). Like
// benchmarks/dubbowire it allocates nothing per call beyond the caller's
// buffers and reads only what it writes; it is not a Bolt implementation.
package boltwire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// MaxArg is the longest argument: one hessian string chunk.
const MaxArg = 0xffff

// ErrFormat: bytes this package did not write.
var ErrFormat = errors.New("boltwire: unexpected format")

const (
	requestClass  = "com.alipay.sofa.rpc.core.request.SofaRequest"
	responseClass = "com.alipay.sofa.rpc.core.response.SofaResponse"
	cmdHeartbeat  = 0
	cmdRequest    = 1
	cmdResponse   = 2
	maxFrame      = 16 << 20
)

var requestPrefix = "\x4f\xbc\x63\x6f\x6d\x2e\x61\x6c\x69\x70\x61\x79\x2e\x73\x6f\x66\x61\x2e\x72\x70\x63\x2e\x63\x6f" +
	"\x72\x65\x2e\x72\x65\x71\x75\x65\x73\x74\x2e\x53\x6f\x66\x61\x52\x65\x71\x75\x65\x73\x74\x95\x0a" +
	"\x6d\x65\x74\x68\x6f\x64\x4e\x61\x6d\x65\x0d\x6d\x65\x74\x68\x6f\x64\x41\x72\x67\x53\x69\x67\x73" +
	"\x17\x74\x61\x72\x67\x65\x74\x53\x65\x72\x76\x69\x63\x65\x55\x6e\x69\x71\x75\x65\x4e\x61\x6d\x65" +
	"\x0d\x74\x61\x72\x67\x65\x74\x41\x70\x70\x4e\x61\x6d\x65\x0c\x72\x65\x71\x75\x65\x73\x74\x50\x72" +
	"\x6f\x70\x73\x6f\x90\x04\x65\x63\x68\x6f\x56\x74\x00\x11\x5b\x6a\x61\x76\x61\x2e\x6c\x61\x6e\x67" +
	"\x2e\x53\x74\x72\x69\x6e\x67\x6e\x01\x10\x6a\x61\x76\x61\x2e\x6c\x61\x6e\x67\x2e\x53\x74\x72\x69" +
	"\x6e\x67\x7a\x53\x00\x21\x6f\x72\x67\x2e\x6d\x65\x73\x68\x70\x72\x6f\x74\x6f\x2e\x64\x65\x6d\x6f" +
	"\x2e\x42\x6f\x6c\x74\x45\x63\x68\x6f\x3a\x31\x2e\x30\x2e\x30\x4e\x4d\x07\x74\x72\x61\x63\x65\x69" +
	"\x64\x06\x61\x62\x63\x31\x32\x33\x06\x74\x65\x6e\x61\x6e\x74\x09\x6d\x65\x73\x68\x70\x72\x6f\x74" +
	"\x6f\x7a"

var responsePrefix = "\x4f\xbe\x63\x6f\x6d\x2e\x61\x6c\x69\x70\x61\x79\x2e\x73\x6f\x66\x61\x2e\x72\x70\x63\x2e\x63\x6f" +
	"\x72\x65\x2e\x72\x65\x73\x70\x6f\x6e\x73\x65\x2e\x53\x6f\x66\x61\x52\x65\x73\x70\x6f\x6e\x73\x65" +
	"\x94\x07\x69\x73\x45\x72\x72\x6f\x72\x08\x65\x72\x72\x6f\x72\x4d\x73\x67\x0b\x61\x70\x70\x52\x65" +
	"\x73\x70\x6f\x6e\x73\x65\x0d\x72\x65\x73\x70\x6f\x6e\x73\x65\x50\x72\x6f\x70\x73\x6f\x90\x46\x4e"

var headerMap = "\x00\x00\x00\x07\x73\x65\x72\x76\x69\x63\x65\x00\x00\x00\x21\x6f\x72\x67\x2e\x6d\x65\x73\x68\x70" +
	"\x72\x6f\x74\x6f\x2e\x64\x65\x6d\x6f\x2e\x42\x6f\x6c\x74\x45\x63\x68\x6f\x3a\x31\x2e\x30\x2e\x30"

// AppendRequest appends a two-way echo request with id and argument arg
// (at most MaxArg bytes).
func AppendRequest(b []byte, id uint32, arg []byte) []byte {
	b = append(b, 1, 1, 0, cmdRequest, 1)
	b = binary.BigEndian.AppendUint32(b, id)
	b = append(b, 1)                           // hessian
	b = binary.BigEndian.AppendUint32(b, 3000) // timeout ms
	b = binary.BigEndian.AppendUint16(b, uint16(len(requestClass)))
	b = binary.BigEndian.AppendUint16(b, uint16(len(headerMap)))
	b = binary.BigEndian.AppendUint32(b, uint32(len(requestPrefix)+3+len(arg)))
	b = append(append(append(b, requestClass...), headerMap...), requestPrefix...)
	return appendArg(b, arg)
}

func appendArg(b, arg []byte) []byte {
	b = append(b, 'S')
	b = binary.BigEndian.AppendUint16(b, uint16(len(arg)))
	return append(b, arg...)
}

// AppendResponse appends the success response to request id carrying v.
func AppendResponse(b []byte, id uint32, v []byte) []byte {
	b = append(b, 1, 0, 0, cmdResponse, 1)
	b = binary.BigEndian.AppendUint32(b, id)
	b = append(b, 1, 0, 0) // hessian, status success
	b = binary.BigEndian.AppendUint16(b, uint16(len(responseClass)))
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(len(responsePrefix)+4+len(v)))
	b = append(append(b, responseClass...), responsePrefix...)
	return append(appendArg(b, v), 'N') // responseProps: null
}

// AppendHeartbeatAck appends the answer to heartbeat id.
func AppendHeartbeatAck(b []byte, id uint32) []byte {
	b = append(b, 1, 0, 0, cmdHeartbeat, 1)
	b = binary.BigEndian.AppendUint32(b, id)
	return append(b, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
}

// Frame is one frame read: the fields the peers use and the content.
type Frame struct {
	Request, Heartbeat bool
	ID                 uint32
	Status             uint16
	Content            []byte
}

// RequestArg is the argument of a request AppendRequest wrote.
func RequestArg(content []byte) ([]byte, error) {
	n := len(requestPrefix)
	if len(content) < n+3 || content[n] != 'S' || int(binary.BigEndian.Uint16(content[n+1:])) != len(content)-n-3 {
		return nil, ErrFormat
	}
	return content[n+3:], nil
}

// ResponseValue is the value of a response AppendResponse wrote.
func ResponseValue(content []byte) ([]byte, error) {
	n := len(responsePrefix)
	if len(content) < n+4 || content[n] != 'S' || content[len(content)-1] != 'N' ||
		int(binary.BigEndian.Uint16(content[n+1:])) != len(content)-n-4 {
		return nil, ErrFormat
	}
	return content[n+3 : len(content)-1], nil
}

// Reader reads frames; a frame's bytes are valid until the next Next.
type Reader struct {
	r   *bufio.Reader
	buf []byte
}

// NewReader reads from r.
func NewReader(r io.Reader) *Reader { return &Reader{r: bufio.NewReaderSize(r, 64<<10)} }

// Next reads one v1 frame.
func (r *Reader) Next() (Frame, error) {
	head, err := r.r.Peek(20)
	if err != nil {
		return Frame{}, err
	}
	if head[0] != 1 {
		return Frame{}, fmt.Errorf("%w: protocol byte %d", ErrFormat, head[0])
	}
	f := Frame{Request: head[1] != 0, Heartbeat: binary.BigEndian.Uint16(head[2:]) == cmdHeartbeat, ID: binary.BigEndian.Uint32(head[5:])}
	fixed, lens := 20, 12
	if f.Request {
		fixed, lens = 22, 14
		if head, err = r.r.Peek(22); err != nil {
			return Frame{}, err
		}
	} else {
		f.Status = binary.BigEndian.Uint16(head[10:])
	}
	classLen, hdrLen := int(binary.BigEndian.Uint16(head[lens:])), int(binary.BigEndian.Uint16(head[lens+2:]))
	n := fixed + classLen + hdrLen + int(binary.BigEndian.Uint32(head[lens+4:]))
	if n > maxFrame {
		return Frame{}, fmt.Errorf("%w: %d-byte frame", ErrFormat, n)
	}
	if cap(r.buf) < n {
		r.buf = make([]byte, n)
	}
	b := r.buf[:n]
	if _, err := io.ReadFull(r.r, b); err != nil {
		return Frame{}, err
	}
	f.Content = b[fixed+classLen+hdrLen:]
	return f, nil
}

// Buffered is how many bytes are read but not yet returned.
func (r *Reader) Buffered() int { return r.r.Buffered() }
