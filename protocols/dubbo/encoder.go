package dubbo

import (
	"fmt"

	"mosn.io/api"
	"mosn.io/pkg/buffer"

	"github.com/meshproto/meshproto/internal/hessian2"
)

// encodeFrame writes f to a pooled buffer: the received header with the
// current request id, then the body. The body is the received bytes, except
// that a changed attachment map is re-encoded in place of the old one; the
// arguments before it are never re-serialized.
func encodeFrame(f *Frame) (api.IoBuffer, error) {
	var body []byte
	switch {
	case f.data == nil:
		body = nil
	case f.data != f.origData:
		// A filter replaced the body: it owns those bytes.
		body = f.data.Bytes()
	default:
		body = f.Body()
	}
	if f.dirty && f.data == f.origData {
		return encodeWithAttachments(f, body)
	}
	buf := buffer.GetIoBuffer(HeaderLen + len(body))
	var hdr [HeaderLen]byte
	f.putHeader(hdr[:], len(body))
	if _, err := buf.Write(hdr[:]); err != nil {
		return nil, fmt.Errorf("dubbo: encode header: %w", err)
	}
	if _, err := buf.Write(body); err != nil {
		return nil, fmt.Errorf("dubbo: encode body: %w", err)
	}
	return buf, nil
}

// encodeWithAttachments splices a freshly encoded attachment map between
// the untouched prefix (leading fields and arguments, or response value) and
// whatever followed the old map.
func encodeWithAttachments(f *Frame, body []byte) (api.IoBuffer, error) {
	prefix := body[:f.attachStart]
	suffix := body[f.attachEnd:]
	var typeByte []byte
	if !f.IsRequest() {
		// A response without attachments gets the matching "with
		// attachments" type; the type is a one-byte compact int (0x90+t).
		t := f.respType
		switch t {
		case RespWithException:
			t = RespWithExceptionAttachments
		case RespValue:
			t = RespValueAttachments
		case RespNullValue:
			t = RespNullValueAttachments
		}
		if t != f.respType {
			if f.respTypeLen != 1 {
				return nil, fmt.Errorf("dubbo: response %d: response type is %d bytes, cannot add attachments", f.id, f.respTypeLen)
			}
			typeByte = hessian2.AppendInt(nil, int32(t))
			prefix = prefix[1:]
		}
	}
	size := len(typeByte) + len(prefix) + len(suffix) + 2
	for _, a := range f.attachments {
		if !a.deleted {
			size += len(a.key) + len(a.val) + int(a.rawEnd-a.rawStart) + 8
		}
	}
	scratch := buffer.GetBytes(size)
	defer buffer.PutBytes(scratch)
	m := (*scratch)[:0]
	m = append(m, typeByte...)
	m = append(m, prefix...)
	// The map is written even when empty: the body type promises one.
	m = hessian2.AppendMapStart(m)
	for _, a := range f.attachments {
		if a.deleted {
			continue
		}
		m = hessian2.AppendString(m, a.key)
		if a.isRaw() {
			m = append(m, body[a.rawStart:a.rawEnd]...)
		} else {
			m = hessian2.AppendString(m, a.val)
		}
	}
	m = hessian2.AppendMapEnd(m)
	m = append(m, suffix...)

	buf := buffer.GetIoBuffer(HeaderLen + len(m))
	var hdr [HeaderLen]byte
	f.putHeader(hdr[:], len(m))
	if _, err := buf.Write(hdr[:]); err != nil {
		return nil, fmt.Errorf("dubbo: encode header: %w", err)
	}
	if _, err := buf.Write(m); err != nil {
		return nil, fmt.Errorf("dubbo: encode body: %w", err)
	}
	*scratch = m[:0]
	return buf, nil
}
