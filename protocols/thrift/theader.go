package thrift

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/meshproto/meshproto/internal/thriftwire"
	"github.com/meshproto/meshproto/internal/zerocopy"
)

// theader is the parsed fixed part and header region of a THeader frame:
//
//	0   LENGTH (of everything after it)
//	4   0x0FFF magic
//	6   FLAGS
//	8   SEQUENCE NUMBER
//	12  HEADER SIZE in 32-bit words
//	14  header: varint protocol id, varint transform count, transform ids,
//	    info sections (varint id, varint count, count key/value strings),
//	    zero padding
//	14+4*size  the message
type theader struct {
	flags   uint16
	seq     uint32
	protoID uint32
	end     int // offset of the message (end of the header region)
	// tail is an unknown info section and padding, kept as bytes: its
	// length cannot be known, so it is written back after ours.
	tailStart int
}

// header is one THeader info header.
type header struct {
	key, val   string
	persistent bool // from the PKEYVALUE section
	deleted    bool
}

var errTransforms = errors.New("THeader transforms (zlib, snappy) are not supported: the payload cannot be read")

// parseTHeader reads the header region of raw (a complete THeader frame)
// into f. Strings are views into raw.
func parseTHeader(raw []byte, f *Frame, maxHeaders int) error {
	words := int(binary.BigEndian.Uint16(raw[12:]))
	end := headerFixedLen + 4*words
	if end > len(raw) {
		return fmt.Errorf("header size %d words runs past the %d byte frame", words, len(raw))
	}
	th := &f.th
	th.flags = binary.BigEndian.Uint16(raw[6:])
	th.seq = binary.BigEndian.Uint32(raw[8:])
	th.end = end
	p := headerFixedLen
	v, n, err := thriftwire.ReadVarint32(raw[p:end])
	if err != nil {
		return fmt.Errorf("protocol id: %w", err)
	}
	th.protoID, p = v, p+n
	switch th.protoID {
	case headerProtoBin:
		f.proto = thriftwire.Binary
	case headerProtoComp:
		f.proto = thriftwire.Compact
	default:
		return fmt.Errorf("THeader protocol id %d: want 0 (binary) or 2 (compact)", th.protoID)
	}
	transforms, n, err := thriftwire.ReadVarint32(raw[p:end])
	if err != nil {
		return fmt.Errorf("transform count: %w", err)
	}
	p += n
	if transforms != 0 {
		return errTransforms
	}
	th.tailStart = end
	for p < end {
		id, n, err := thriftwire.ReadVarint32(raw[p:end])
		if err != nil {
			return fmt.Errorf("info id: %w", err)
		}
		if id != infoKeyValue && id != infoPKeyValue {
			// Padding (0) or a section this codec does not know.
			th.tailStart = p
			break
		}
		p += n
		count, n, err := thriftwire.ReadVarint32(raw[p:end])
		if err != nil {
			return fmt.Errorf("info header count: %w", err)
		}
		p += n
		for i := uint32(0); i < count; i++ {
			if len(f.headers) >= maxHeaders {
				return fmt.Errorf("more than %d info headers", maxHeaders)
			}
			var h header
			if h.key, p, err = varString(raw, p, end); err != nil {
				return fmt.Errorf("info header key: %w", err)
			}
			if h.val, p, err = varString(raw, p, end); err != nil {
				return fmt.Errorf("info header %q: %w", h.key, err)
			}
			h.persistent = id == infoPKeyValue
			f.headers = append(f.headers, h)
		}
	}
	return nil
}

// varString reads a varint-length string at raw[p:end].
func varString(raw []byte, p, end int) (string, int, error) {
	l, n, err := thriftwire.ReadVarint32(raw[p:end])
	if err != nil {
		return "", p, err
	}
	p += n
	if uint64(l) > uint64(end-p) {
		return "", p, fmt.Errorf("string of %d bytes runs past the header", l)
	}
	return zerocopy.String(raw[p : p+int(l)]), p + int(l), nil
}

// appendHeaderRegion writes the header region (protocol id through
// padding) for f's current headers.
func appendHeaderRegion(dst []byte, f *Frame, raw []byte) []byte {
	start := len(dst)
	dst = thriftwire.AppendVarint32(dst, f.th.protoID)
	dst = thriftwire.AppendVarint32(dst, 0)
	for _, persistent := range [...]bool{false, true} {
		count := 0
		for _, h := range f.headers {
			if !h.deleted && h.persistent == persistent {
				count++
			}
		}
		if count == 0 {
			continue
		}
		id := uint32(infoKeyValue)
		if persistent {
			id = infoPKeyValue
		}
		dst = thriftwire.AppendVarint32(dst, id)
		dst = thriftwire.AppendVarint32(dst, uint32(count))
		for _, h := range f.headers {
			if h.deleted || h.persistent != persistent {
				continue
			}
			dst = appendVarString(dst, h.key)
			dst = appendVarString(dst, h.val)
		}
	}
	if f.th.tailStart < f.th.end {
		// An unknown section and the old padding: keep them.
		dst = append(dst, raw[f.th.tailStart:f.th.end]...)
	}
	for (len(dst)-start)%4 != 0 {
		dst = append(dst, 0)
	}
	return dst
}

func appendVarString(dst []byte, s string) []byte {
	dst = thriftwire.AppendVarint32(dst, uint32(len(s)))
	return append(dst, s...)
}
