package thrift

import (
	"encoding/binary"
	"fmt"

	"mosn.io/api"
	"mosn.io/pkg/buffer"

	"github.com/meshproto/meshproto/internal/thriftwire"
)

// encodeFrame writes f with its current sequence id: the transport prefix
// (a new length when the size changed), the THeader header region (as
// received, or rebuilt when an info header changed), then the message with
// only the sequence id replaced. The struct bytes are copied untouched.
func encodeFrame(f *Frame) (api.IoBuffer, error) {
	msg, hdr := f.Message(), f.msg
	if f.data != f.origData {
		if f.data == nil {
			return nil, fmt.Errorf("thrift: encode %s: no message", f.name)
		}
		// A filter replaced the message: find its sequence id again.
		msg = f.data.Bytes()
		h, err := thriftwire.ReadMessageHeader(f.proto, msg)
		if err != nil {
			return nil, fmt.Errorf("thrift: encode replaced message: %w", err)
		}
		hdr = h
	}
	seq := uint32(f.id)
	var seqBuf [5]byte
	var seqEnc []byte
	if f.proto == thriftwire.Binary {
		binary.BigEndian.PutUint32(seqBuf[:], seq)
		seqEnc = seqBuf[:4]
	} else {
		seqEnc = thriftwire.AppendVarint32(seqBuf[:0], seq)
	}
	msgLen := len(msg) - hdr.SeqIDLen + len(seqEnc)

	var region []byte
	var scratch *[]byte
	if f.transport == Header {
		if f.dirty {
			scratch = buffer.GetBytes(64)
			defer buffer.PutBytes(scratch)
			region = appendHeaderRegion((*scratch)[:0], f, f.raw)
			if len(region)/4 > maxHeaderWords {
				return nil, fmt.Errorf("thrift: THeader header of %d bytes is over the format's limit", len(region))
			}
		} else {
			region = f.raw[headerFixedLen:f.th.end]
		}
	}

	size := msgLen
	switch f.transport {
	case Framed:
		size += frameLenBytes
	case Header:
		size += headerFixedLen + len(region)
	}
	out := buffer.GetIoBuffer(size)
	var pre [headerFixedLen]byte
	switch f.transport {
	case Framed:
		binary.BigEndian.PutUint32(pre[:], uint32(msgLen))
		_, _ = out.Write(pre[:frameLenBytes])
	case Header:
		binary.BigEndian.PutUint32(pre[0:], uint32(size-frameLenBytes))
		binary.BigEndian.PutUint16(pre[4:], headerMagic)
		binary.BigEndian.PutUint16(pre[6:], f.th.flags)
		thSeq := f.th.seq
		if thSeq == uint32(f.msg.SeqID) {
			// Clients put the message's sequence id in the header too.
			thSeq = seq
		}
		binary.BigEndian.PutUint32(pre[8:], thSeq)
		binary.BigEndian.PutUint16(pre[12:], uint16(len(region)/4))
		_, _ = out.Write(pre[:])
		_, _ = out.Write(region)
	}
	_, _ = out.Write(msg[:hdr.SeqIDOff])
	_, _ = out.Write(seqEnc)
	if _, err := out.Write(msg[hdr.SeqIDOff+hdr.SeqIDLen:]); err != nil {
		return nil, fmt.Errorf("thrift: encode: %w", err)
	}
	if scratch != nil {
		*scratch = region[:0]
	}
	return out, nil
}
