package spec

import (
	"fmt"
	"strconv"

	"mosn.io/api"

	"github.com/meshproto/meshproto/protocols/kit"
)

// put writes v into field f of b; it fails when v does not fit.
func (w *Wire) put(b []byte, f field, v uint64) error {
	if v > maxOf(f.size) {
		return fmt.Errorf("%s: %d does not fit the %d-byte field %s", w.name, v, f.size, f.name)
	}
	w.putN(b[f.off:f.end()], v)
	return nil
}

func (w *Wire) putN(p []byte, v uint64) {
	switch len(p) {
	case 1:
		p[0] = byte(v)
	case 2:
		w.order.PutUint16(p, uint16(v))
	case 4:
		w.order.PutUint32(p, uint32(v))
	default:
		w.order.PutUint64(p, v)
	}
}

// Encode writes the received bytes with the current request id or, when a
// filter changed headers or the body, the frame rebuilt around them.
func (w *Wire) Encode(f *kit.Frame, buf api.IoBuffer) error {
	l := f.Marks[markLayout]
	var err error
	changed := f.BodyReplaced()
	for i := range w.sections[l] {
		changed = changed || f.HeadersChanged(uint8(i))
	}
	if !changed {
		if err := buf.Append(f.Raw); err != nil {
			return err
		}
		return w.put(buf.Bytes()[buf.Len()-len(f.Raw):], w.id[l], f.ID)
	}
	var spans [maxSections]span
	if err := w.walk(f.Raw, l, &spans); err != nil {
		return err
	}
	out := append(make([]byte, 0, len(f.Raw)+256), f.Raw[:w.hdr[l]]...)
	for i, sc := range w.sections[l] {
		content := f.Raw[spans[i].start:spans[i].end]
		switch {
		case i == w.body[l]:
			content = f.Body()
		case f.HeadersChanged(uint8(i)):
			content = nil
			for _, h := range f.Headers() {
				if h.Group == uint8(i) && !h.Deleted {
					if content, err = w.appendEntry(content, &sc, h.Key, h.Value); err != nil {
						return err
					}
				}
			}
		}
		if out, err = w.appendSection(out, &sc, content); err != nil {
			return err
		}
	}
	if err := w.finish(out, l, f.ID); err != nil {
		return err
	}
	return buf.Append(out)
}

// appendEntry appends one key/value or TLV entry.
func (w *Wire) appendEntry(dst []byte, sc *section, k, v string) ([]byte, error) {
	var err error
	if sc.format == fmtTLV {
		t, ok := sc.tlvTypes[k]
		if !ok {
			n, perr := strconv.ParseUint(k, 10, 64)
			if perr != nil || n > maxOf(sc.tlv.TypeSize) {
				return nil, fmt.Errorf("%s: header %q has no TLV type in section %s", w.name, k, sc.name)
			}
			t = n
		}
		dst = w.appendUint(dst, sc.tlv.TypeSize, t)
		return w.appendPrefixed(dst, sc.tlv.LenSize, v)
	}
	if dst, err = w.appendPrefixed(dst, sc.kv.KeyLen, k); err != nil {
		return nil, err
	}
	return w.appendPrefixed(dst, sc.kv.ValueLen, v)
}

func (w *Wire) appendUint(dst []byte, size int, v uint64) []byte {
	n := len(dst)
	dst = append(dst, make([]byte, size)...)
	w.putN(dst[n:], v)
	return dst
}

func (w *Wire) appendPrefixed(dst []byte, size int, s string) ([]byte, error) {
	if uint64(len(s)) > maxOf(size) {
		return nil, fmt.Errorf("%s: %d bytes do not fit a %d-byte length", w.name, len(s), size)
	}
	return append(w.appendUint(dst, size, uint64(len(s))), s...), nil
}

// appendSection appends a section's content with its prefix, or sets its
// length field.
func (w *Wire) appendSection(out []byte, sc *section, content []byte) ([]byte, error) {
	switch {
	case sc.prefix > 0:
		if uint64(len(content)) > maxOf(sc.prefix) {
			return nil, fmt.Errorf("%s: section %s of %d bytes over its %d-byte prefix", w.name, sc.name, len(content), sc.prefix)
		}
		out = w.appendUint(out, sc.prefix, uint64(len(content)))
	case sc.length != nil:
		if err := w.put(out, *sc.length, uint64(len(content))); err != nil {
			return nil, err
		}
	}
	return append(out, content...), nil
}

// finish sets the total length field and the request id.
func (w *Wire) finish(out []byte, l int, id uint64) error {
	if t := w.total[l]; t != nil {
		n := int64(len(out)) - int64(w.plus) - int64(w.hdrIf(l))
		for _, f := range w.lenFields[l] {
			if f.name != t.name {
				n -= int64(w.uint(out, f))
			}
		}
		if n < 0 {
			return fmt.Errorf("%s: frame of %d bytes too short for its length field", w.name, len(out))
		}
		if err := w.put(out, *t, uint64(n)); err != nil {
			return err
		}
	}
	return w.put(out, w.id[l], id)
}
