package thrift

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/meshproto/meshproto/internal/thriftwire"
	"github.com/meshproto/meshproto/internal/zerocopy"
)

// ErrFrameTooLarge is wrapped by the ConnError for a frame over the limit.
var ErrFrameTooLarge = errors.New("frame exceeds size limit")

// frameLength returns the length of the frame at the start of b once it is
// known: from the length prefix (framed, THeader) or by stepping over the
// message (unframed). 0 means more bytes are needed.
func frameLength(b []byte, k kind, cfg *Config) (int, error) {
	switch k.transport {
	case Framed, Header:
		if len(b) < frameLenBytes {
			return 0, nil
		}
		n := int64(int32(binary.BigEndian.Uint32(b)))
		if n <= 0 {
			return 0, connErr(fmt.Sprintf("frame length %d", n), nil)
		}
		if n+frameLenBytes > int64(cfg.MaxFrameBytes) {
			return 0, connErr(fmt.Sprintf("%d byte frame over limit %d", n+frameLenBytes, cfg.MaxFrameBytes), ErrFrameTooLarge)
		}
		return int(n) + frameLenBytes, nil
	}
	// Unframed: the message is complete once its struct is.
	hdr, err := thriftwire.ReadMessageHeader(k.proto, b)
	if err == nil {
		var end int
		end, err = thriftwire.SkipStruct(k.proto, b, hdr.BodyOff, cfg.MaxDepth)
		if err == nil {
			if end > cfg.MaxFrameBytes {
				return 0, connErr(fmt.Sprintf("%d byte message over limit %d", end, cfg.MaxFrameBytes), ErrFrameTooLarge)
			}
			return end, nil
		}
	}
	if errors.Is(err, thriftwire.ErrShort) {
		if len(b) >= cfg.MaxFrameBytes {
			return 0, connErr(fmt.Sprintf("unframed message still incomplete after %d bytes", len(b)), ErrFrameTooLarge)
		}
		return 0, nil
	}
	return 0, connErr("unframed message", err)
}

// decodeFrame parses one complete frame; raw is owned by the frame.
func decodeFrame(raw []byte, k kind, cfg *Config) (*Frame, error) {
	f := &Frame{raw: raw, transport: k.transport, proto: k.proto}
	f.headers = f.headerArr[:0]
	switch k.transport {
	case Framed:
		f.msgOff = frameLenBytes
	case Header:
		if len(raw) < headerFixedLen {
			return nil, connErr(fmt.Sprintf("THeader frame of %d bytes is shorter than its fixed header", len(raw)), nil)
		}
		if m := binary.BigEndian.Uint16(raw[4:]); m != headerMagic {
			return nil, connErr(fmt.Sprintf("THeader magic %#04x, want 0x0fff", m), nil)
		}
		if err := parseTHeader(raw, f, cfg.MaxHeaders); err != nil {
			return nil, connErr("THeader", err)
		}
		f.msgOff = f.th.end
	}
	msg := raw[f.msgOff:]
	hdr, err := thriftwire.ReadMessageHeader(f.proto, msg)
	if err != nil {
		return nil, connErr(fmt.Sprintf("%s %s message header", f.transport, f.proto), err)
	}
	if hdr.Type < MessageCall || hdr.Type > MessageOneway {
		return nil, connErr(fmt.Sprintf("message type %d", hdr.Type), nil)
	}
	f.msg = hdr
	f.msgType = hdr.Type
	f.name = zerocopy.String(hdr.Name)
	f.id = uint64(uint32(hdr.SeqID))
	f.data = newMessageBuffer(raw, f.msgOff)
	f.origData = f.data

	if f.isRequest() {
		f.resolveService(cfg)
		f.oneway = f.msgType == MessageCall && cfg.isOneway(f.name, f.method)
	}
	if err := fillsFrame(f, cfg.MaxDepth); err != nil {
		if !f.isRequest() {
			return nil, connErr("reply", err)
		}
		f.decodeErr = &StreamError{Protocol: string(ProtocolName), RequestID: f.id, Reason: "malformed request", Err: err}
		if f.msgType == MessageOneway || f.oneway {
			// Nobody waits for an answer: MOSN closes the connection.
			return f, f.decodeErr
		}
		// Answered with PROTOCOL_ERROR, never forwarded (see Hijack and
		// the route handler); the connection stays.
		return f, nil
	}
	if f.isRequest() {
		return f, nil
	}
	f.method = f.name
	switch f.msgType {
	case MessageReply:
		// Field 0 is the return value; a declared exception is field >= 1.
		id, typ, err := thriftwire.FirstField(f.proto, msg, hdr.BodyOff)
		if err == nil && typ != thriftwire.TypeStop && id >= 1 {
			f.status = StatusDeclaredException
		}
	case MessageException:
		f.status = StatusApplicationException
		f.excType = ExcUnknown
		if t, err := thriftwire.ApplicationExceptionType(f.proto, msg, hdr.BodyOff); err == nil {
			f.excType = t
		}
	}
	return f, nil
}

// fillsFrame checks that a framed or THeader message's struct ends exactly
// where its frame does. The proxy forwards the frame with a length computed
// from the bytes it writes; a server reads the struct it finds there. When
// the two disagree (bytes after the struct, or a struct that needs more
// bytes than the frame has), a server such as Apache Thrift's
// TFramedTransport reads the leftover bytes, or the next client's frame,
// as the rest of this message: the shared upstream connection desyncs for
// every client on it. So the struct is stepped over (never decoded) with
// the same grammar a conforming server parses, and a frame whose message
// does not fill it exactly is never forwarded. An unframed message is
// bounded by that same step, so it is exact by construction.
func fillsFrame(f *Frame, maxDepth int) error {
	if f.transport == Unframed {
		return nil
	}
	msg := f.Message()
	end, err := thriftwire.SkipStruct(f.proto, msg, f.msg.BodyOff, maxDepth)
	if err != nil {
		return fmt.Errorf("%s payload: %w", f.transport, err)
	}
	if end != len(msg) {
		return fmt.Errorf("%s payload: the message ends at byte %d of %d", f.transport, end, len(msg))
	}
	return nil
}

// resolveService: the multiplexed prefix, else a THeader header, else the
// configured default.
func (f *Frame) resolveService(cfg *Config) {
	if svc, method, ok := splitName(f.name); ok {
		f.service, f.method = svc, method
		return
	}
	f.method = f.name
	if i := f.find(cfg.ServiceHeader); i >= 0 && f.headers[i].val != "" {
		f.service = f.headers[i].val
		return
	}
	f.service = cfg.DefaultService
}
