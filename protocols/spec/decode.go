package spec

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/meshproto/meshproto/internal/zerocopy"
	"github.com/meshproto/meshproto/protocols/kit"
	"github.com/meshproto/meshproto/protocols/rpcmeta"
)

func (w *Wire) uint(b []byte, f field) uint64 {
	p := b[f.off:f.end()]
	switch f.size {
	case 1:
		return uint64(p[0])
	case 2:
		return uint64(w.order.Uint16(p))
	case 4:
		return uint64(w.order.Uint32(p))
	}
	return w.order.Uint64(p)
}

func (w *Wire) connErr(reason string, err error) error {
	return &rpcmeta.ConnError{Protocol: w.name, Reason: reason, Err: err}
}

// kindOf reads the frame kind; b holds at least the kind (and heartbeat
// flag) fields.
func (w *Wire) kindOf(b []byte) (kit.Kind, int, error) {
	v := w.uint(b, w.kind)
	k, ok := w.kinds[v]
	if !ok {
		return 0, 0, w.connErr("bad frame header", fmt.Errorf("%s %d is no frame kind", w.kind.name, v))
	}
	if w.hbFlag != nil && w.hbValues[w.uint(b, *w.hbFlag)] {
		switch k {
		case kit.KindRequest, kit.KindOneway:
			k = kit.KindHeartbeat
		case kit.KindResponse:
			k = kit.KindHeartbeatReply
		}
	}
	if k.IsRequest() {
		return k, reqLayout, nil
	}
	return k, respLayout, nil
}

// Peek finds the frame length from the fixed header.
func (w *Wire) Peek(b []byte, maxFrame int) (int, error) {
	if m := w.magic; m != nil {
		have := min(len(b)-w.magicOff, len(m))
		if have > 0 && string(b[w.magicOff:w.magicOff+have]) != string(m[:have]) {
			return 0, w.connErr("bad magic", nil)
		}
	}
	need := w.kind.end()
	if w.hbFlag != nil {
		need = max(need, w.hbFlag.end())
	}
	if len(b) < need {
		return 0, nil
	}
	_, l, err := w.kindOf(b)
	if err != nil {
		return 0, err
	}
	if len(b) < w.hdr[l] {
		return 0, nil
	}
	n := int64(w.plus + w.hdrIf(l))
	for _, f := range w.lenFields[l] {
		v := w.uint(b, f)
		if v > 1<<40 { // no sum of these overflows
			return 0, w.connErr("bad frame length", fmt.Errorf("%s %d", f.name, v))
		}
		n += int64(v)
	}
	if n < int64(w.hdr[l]) || maxFrame > 0 && n > int64(maxFrame) {
		return 0, w.connErr("bad frame length", fmt.Errorf("%d bytes outside [%d, %d]", n, w.hdr[l], maxFrame))
	}
	return int(n), nil
}

func (w *Wire) hdrIf(l int) int {
	if w.plusHdr {
		return w.hdr[l]
	}
	return 0
}

// markLayout is the frame mark holding the layout Parse found, for Encode.
const markLayout = 0

// span is where a section's content is in the frame.
type span struct{ start, end int }

var (
	errOverrun = errors.New("sections overrun the frame")
	errNotUTF8 = errors.New("text that is not UTF-8")
)

// walk finds the sections of a frame.
func (w *Wire) walk(b []byte, l int, out *[maxSections]span) error {
	at := w.hdr[l]
	for i, sc := range w.sections[l] {
		var n int
		switch {
		case sc.rest:
			n = len(b) - at
		case sc.length != nil:
			n = int(min(w.uint(b, *sc.length), uint64(len(b))))
		default:
			if at+sc.prefix > len(b) {
				return fmt.Errorf("section %s: %w", sc.name, errOverrun)
			}
			n = int(w.readN(b[at : at+sc.prefix]))
			at += sc.prefix
		}
		if n > len(b)-at {
			return fmt.Errorf("section %s: %d bytes, %d left: %w", sc.name, n, len(b)-at, errOverrun)
		}
		out[i] = span{at, at + n}
		at += n
	}
	if at != len(b) {
		return fmt.Errorf("%d bytes after the last section", len(b)-at)
	}
	return nil
}

func (w *Wire) readN(p []byte) uint64 {
	switch len(p) {
	case 1:
		return uint64(p[0])
	case 2:
		return uint64(w.order.Uint16(p))
	}
	return uint64(w.order.Uint32(p))
}

// Parse reads a frame's kind, id, status, headers and metadata.
func (w *Wire) Parse(f *kit.Frame) error {
	b := f.Raw
	if len(b) < w.minFrame {
		return w.connErr("short frame", nil)
	}
	k, l, err := w.kindOf(b)
	if err != nil {
		return err
	}
	if len(b) < w.hdr[l] {
		return w.connErr("short frame", nil)
	}
	f.Kind, f.ID = k, w.uint(b, w.id[l])
	f.Marks[markLayout] = l
	if k == kit.KindRequest && w.timeout != nil {
		f.Timeout = int32(min(w.uint(b, *w.timeout), 1<<31-1))
	}
	if k == kit.KindResponse {
		f.Status = uint32(w.uint(b, *w.status))
		if !w.success[uint64(f.Status)] {
			f.SetFailed()
		}
	}
	var spans [maxSections]span
	if err := w.walk(b, l, &spans); err != nil {
		return err
	}
	if i := w.body[l]; i >= 0 {
		f.SetBody(spans[i].start, spans[i].end)
	}
	for i, sc := range w.sections[l] {
		p := b[spans[i].start:spans[i].end]
		var err error
		switch sc.format {
		case fmtString:
			if sc.utf8 && !utf8.Valid(p) {
				err = errNotUTF8
			}
		case fmtKV:
			err = w.rangeKV(sc, p, func(k, v []byte) error {
				if sc.utf8 && (!utf8.Valid(k) || !utf8.Valid(v)) {
					return errNotUTF8
				}
				return f.AddHeader(uint8(i), zerocopy.String(k), zerocopy.String(v))
			})
		case fmtTLV:
			err = w.rangeTLV(sc, p, func(t uint64, v []byte) error {
				if sc.utf8 && !utf8.Valid(v) {
					return errNotUTF8
				}
				return f.AddHeader(uint8(i), sc.tlvName(t), zerocopy.String(v))
			})
		}
		if err != nil {
			return fmt.Errorf("section %s: %w", sc.name, err)
		}
	}
	f.AcceptNewHeaders(w.newGroup[l])
	if k == kit.KindRequest || k == kit.KindOneway {
		var m [4]string
		for i, src := range w.meta {
			m[i] = w.lookup(f, l, &spans, src)
		}
		if sep := w.meta[0].Split; sep != "" {
			// interface<sep>version<sep>group, without allocating.
			iface, rest, _ := strings.Cut(m[0], sep)
			version, group, _ := strings.Cut(rest, sep)
			m[0] = iface
			if m[2] == "" {
				m[2] = version
			}
			if m[3] == "" {
				m[3] = group
			}
		}
		f.SetMetadata(m[0], m[1], m[2], m[3])
	}
	return nil
}

func (sc *section) tlvName(t uint64) string {
	if n, ok := sc.tlvNames[t]; ok {
		return n
	}
	return strconv.FormatUint(t, 10)
}

func (w *Wire) lookup(f *kit.Frame, l int, spans *[maxSections]span, src Source) string {
	switch {
	case src.Field != "":
		fd := w.fields[l][src.Field]
		return strings.TrimRight(zerocopy.String(f.Raw[fd.off:fd.end()]), "\x00")
	case src.Section != "":
		for i, sc := range w.sections[l] {
			if sc.name == src.Section {
				return zerocopy.String(f.Raw[spans[i].start:spans[i].end])
			}
		}
	case src.Header != "":
		for _, h := range f.Headers() {
			if h.Key == src.Header {
				return h.Value
			}
		}
	}
	return ""
}

func (w *Wire) rangeKV(sc section, p []byte, fn func(k, v []byte) error) error {
	for len(p) > 0 {
		var k, v []byte
		var ok bool
		if k, p, ok = w.cut(p, sc.kv.KeyLen); !ok {
			return errors.New("truncated key")
		}
		if v, p, ok = w.cut(p, sc.kv.ValueLen); !ok {
			return errors.New("truncated value")
		}
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return nil
}

func (w *Wire) rangeTLV(sc section, p []byte, fn func(t uint64, v []byte) error) error {
	for len(p) > 0 {
		if len(p) < sc.tlv.TypeSize {
			return errors.New("truncated type")
		}
		t := w.readN(p[:sc.tlv.TypeSize])
		v, rest, ok := w.cut(p[sc.tlv.TypeSize:], sc.tlv.LenSize)
		if !ok {
			return errors.New("truncated value")
		}
		if err := fn(t, v); err != nil {
			return err
		}
		p = rest
	}
	return nil
}

// cut splits a length-prefixed item off p.
func (w *Wire) cut(p []byte, lenSize int) (item, rest []byte, ok bool) {
	if len(p) < lenSize {
		return nil, nil, false
	}
	n := w.readN(p[:lenSize])
	p = p[lenSize:]
	if n > uint64(len(p)) {
		return nil, nil, false
	}
	return p[:n], p[n:], true
}
