// Package thriftwire is the minimal Thrift framing the benchmark peers
// need: a call with one binary (string) argument and its reply carrying
// one string, in two of the transports meshproto proxies: framed strict
// binary, and THeader carrying compact. Like benchmarks/dubbowire it
// allocates nothing per call beyond the caller's buffers and handles only
// what it writes itself; it is checked against Apache Thrift in
// examples/thrift (wire_test.go there) and is not a Thrift implementation.
package thriftwire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Kind is a transport and protocol pair.
type Kind int

const (
	// FramedBinary: a 4-byte length, then a strict binary message.
	FramedBinary Kind = iota
	// HeaderCompact: a THeader frame whose payload is a compact message.
	HeaderCompact
)

// ParseProtocol reads the benchmark peers' -protocol value for Thrift:
// "thrift-framed-binary" or "thrift-header-compact".
func ParseProtocol(s string) (Kind, error) {
	switch s {
	case "thrift-framed-binary":
		return FramedBinary, nil
	case "thrift-header-compact":
		return HeaderCompact, nil
	}
	return 0, fmt.Errorf("thriftwire: protocol %q: want thrift-framed-binary or thrift-header-compact", s)
}

// Message types.
const (
	Call  = 1
	Reply = 2
)

// ErrFormat: bytes this package did not write.
var ErrFormat = errors.New("thriftwire: unexpected format")

// MaxFrame bounds one frame read.
const MaxFrame = 16 << 20

const (
	binaryVersion1 = 0x80010000
	typeString     = 11 // binary protocol field type
	compactID      = 0x82
	compactVersion = 1
	compactBinary  = 8 // compact protocol field type
	headerMagic    = 0x0fff
	protoCompact   = 2 // THeader protocol id
)

// AppendMessage appends one frame: a message of type typ named name with
// sequence id seq whose struct has one string field, id 1 for a call (the
// argument) and id 0 for a reply (the result).
func AppendMessage[N string | []byte](b []byte, k Kind, typ byte, name N, seq int32, value []byte) []byte {
	start := len(b)
	b = append(b, 0, 0, 0, 0) // frame length, patched below
	switch k {
	case FramedBinary:
		b = binary.BigEndian.AppendUint32(b, binaryVersion1|uint32(typ))
		b = binary.BigEndian.AppendUint32(b, uint32(len(name)))
		b = append(b, name...)
		b = binary.BigEndian.AppendUint32(b, uint32(seq))
		b = append(b, typeString, 0, fieldID(typ))
		b = binary.BigEndian.AppendUint32(b, uint32(len(value)))
		b = append(b, value...)
		b = append(b, 0) // stop
	case HeaderCompact:
		b = binary.BigEndian.AppendUint16(b, headerMagic)
		b = binary.BigEndian.AppendUint16(b, 0) // flags
		b = binary.BigEndian.AppendUint32(b, uint32(seq))
		// Header: protocol id, no transforms, padded to 4 bytes: one word.
		b = binary.BigEndian.AppendUint16(b, 1)
		b = append(b, protoCompact, 0, 0, 0)
		b = append(b, compactID, compactVersion|typ<<5)
		b = binary.AppendUvarint(b, uint64(uint32(seq)))
		b = binary.AppendUvarint(b, uint64(len(name)))
		b = append(b, name...)
		if typ == Call {
			b = append(b, 1<<4|compactBinary) // field 1, delta form
		} else {
			b = append(b, compactBinary, 0) // field 0, long form (zigzag 0)
		}
		b = binary.AppendUvarint(b, uint64(len(value)))
		b = append(b, value...)
		b = append(b, 0) // stop
	}
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start-4))
	return b
}

func fieldID(typ byte) byte {
	if typ == Call {
		return 1
	}
	return 0
}

// Message is one parsed frame; Name and Value point into the frame.
type Message struct {
	Type  byte
	Seq   int32
	Name  []byte
	Value []byte
}

// Parse reads a frame (without its 4-byte length) that AppendMessage wrote,
// or that a proxy rewrote (sequence ids, THeader headers).
func Parse(k Kind, f []byte) (Message, error) {
	var m Message
	switch k {
	case FramedBinary:
		if len(f) < 12 || binary.BigEndian.Uint32(f)&0xffff0000 != binaryVersion1 {
			return m, fmt.Errorf("%w: not a strict binary message", ErrFormat)
		}
		m.Type = byte(binary.BigEndian.Uint32(f))
		n := int(binary.BigEndian.Uint32(f[4:]))
		if n < 0 || len(f) < 8+n+4+3+4 {
			return m, fmt.Errorf("%w: short binary message", ErrFormat)
		}
		m.Name = f[8 : 8+n]
		p := 8 + n
		m.Seq = int32(binary.BigEndian.Uint32(f[p:]))
		p += 4
		if f[p] != typeString {
			return m, fmt.Errorf("%w: field type %d", ErrFormat, f[p])
		}
		p += 3
		vn := int(binary.BigEndian.Uint32(f[p:]))
		p += 4
		if vn < 0 || len(f) < p+vn {
			return m, fmt.Errorf("%w: short string", ErrFormat)
		}
		m.Value = f[p : p+vn]
		return m, nil
	case HeaderCompact:
		if len(f) < 10 || binary.BigEndian.Uint16(f) != headerMagic {
			return m, fmt.Errorf("%w: not a THeader frame", ErrFormat)
		}
		p := 10 + 4*int(binary.BigEndian.Uint16(f[8:]))
		if len(f) < p+2 || f[p] != compactID {
			return m, fmt.Errorf("%w: THeader payload is not compact", ErrFormat)
		}
		m.Type = f[p+1] >> 5
		p += 2
		seq, n := binary.Uvarint(f[p:])
		if n <= 0 {
			return m, fmt.Errorf("%w: sequence id", ErrFormat)
		}
		m.Seq = int32(uint32(seq))
		p += n
		nameLen, n := binary.Uvarint(f[p:])
		if n <= 0 || uint64(len(f)-p-n) < nameLen {
			return m, fmt.Errorf("%w: name", ErrFormat)
		}
		p += n
		m.Name = f[p : p+int(nameLen)]
		p += int(nameLen)
		if p >= len(f) {
			return m, fmt.Errorf("%w: no field", ErrFormat)
		}
		if f[p]&0x0f != compactBinary {
			return m, fmt.Errorf("%w: field type %d", ErrFormat, f[p]&0x0f)
		}
		if f[p]>>4 == 0 {
			p++ // long form: the zigzag field id follows
		}
		p++
		vn, n := binary.Uvarint(f[p:])
		if n <= 0 || uint64(len(f)-p-n) < vn {
			return m, fmt.Errorf("%w: string", ErrFormat)
		}
		p += n
		m.Value = f[p : p+int(vn)]
		return m, nil
	}
	return m, fmt.Errorf("thriftwire: unknown kind %d", k)
}

// Reader reads length-prefixed frames from a buffered connection into a
// reused buffer.
type Reader struct {
	r   *bufio.Reader
	hdr [4]byte
	buf []byte
}

// NewReader wraps r with a 64 KiB buffer.
func NewReader(r io.Reader) *Reader { return &Reader{r: bufio.NewReaderSize(r, 64<<10)} }

// Next returns the next frame without its length; valid until the next call.
func (r *Reader) Next() ([]byte, error) {
	if _, err := io.ReadFull(r.r, r.hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(r.hdr[:])
	if n > MaxFrame {
		return nil, fmt.Errorf("thriftwire: frame of %d bytes", n)
	}
	if cap(r.buf) < int(n) {
		r.buf = make([]byte, n)
	}
	f := r.buf[:n]
	if _, err := io.ReadFull(r.r, f); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return f, nil
}

// Buffered reports how many bytes are already buffered.
func (r *Reader) Buffered() int { return r.r.Buffered() }
