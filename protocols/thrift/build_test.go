package thrift

import (
	"context"
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"
	"mosn.io/api"
	"mosn.io/pkg/buffer"

	"github.com/meshproto/meshproto/internal/thriftwire"
)

// Hand-built frames for the cases the library fixtures in testdata/ do not
// cover. Each helper spells out the wire format it writes.

// argsStruct is a struct {1: string "meshproto"; 2: i32 7} followed by STOP.
func argsStruct(p thriftwire.Proto) []byte {
	if p == thriftwire.Binary {
		// 0b 0001 <len 9> "meshproto"   08 0002 <7>   00
		b := []byte{11, 0, 1, 0, 0, 0, 9}
		b = append(b, "meshproto"...)
		b = append(b, 8, 0, 2, 0, 0, 0, 7)
		return append(b, 0)
	}
	// 0x18 (delta 1, binary) <varint 9> "meshproto"   0x15 (delta 1, i32) <zigzag 7 = 14>   00
	b := []byte{0x18, 9}
	b = append(b, "meshproto"...)
	b = append(b, 0x15, 14)
	return append(b, 0)
}

// replyStruct is a result struct whose first field is fieldID (0 for a
// return value, >= 1 for a declared exception) holding an i32.
func replyStruct(p thriftwire.Proto, fieldID int16) []byte {
	if p == thriftwire.Binary {
		b := []byte{8}
		b = binary.BigEndian.AppendUint16(b, uint16(fieldID))
		return append(b, 0, 0, 0, 42, 0)
	}
	if fieldID == 0 {
		// Long form: type i32 (5), zigzag varint id 0.
		return []byte{0x05, 0x00, 84, 0}
	}
	return []byte{byte(fieldID)<<4 | 0x05, 84, 0}
}

func message(p thriftwire.Proto, name string, typ uint8, seq int32, strict bool, body []byte) []byte {
	return append(thriftwire.AppendMessageHeader(p, nil, name, typ, seq, strict), body...)
}

// wrap puts a message in a transport. THeader frames carry headers (in
// order) in one KEYVALUE section and use seq as the header sequence id.
func wrap(tr Transport, p thriftwire.Proto, seq int32, msg []byte, headers ...string) []byte {
	switch tr {
	case Unframed:
		return msg
	case Framed:
		return append(binary.BigEndian.AppendUint32(nil, uint32(len(msg))), msg...)
	}
	protoID := uint32(headerProtoBin)
	if p == thriftwire.Compact {
		protoID = headerProtoComp
	}
	region := thriftwire.AppendVarint32(nil, protoID)
	region = thriftwire.AppendVarint32(region, 0)
	if len(headers) > 0 {
		region = thriftwire.AppendVarint32(region, infoKeyValue)
		region = thriftwire.AppendVarint32(region, uint32(len(headers)/2))
		for _, s := range headers {
			region = appendVarString(region, s)
		}
	}
	for len(region)%4 != 0 {
		region = append(region, 0)
	}
	out := binary.BigEndian.AppendUint32(nil, uint32(10+len(region)+len(msg)))
	out = binary.BigEndian.AppendUint16(out, headerMagic)
	out = binary.BigEndian.AppendUint16(out, 0)
	out = binary.BigEndian.AppendUint32(out, uint32(seq))
	out = binary.BigEndian.AppendUint16(out, uint16(len(region)/4))
	out = append(out, region...)
	return append(out, msg...)
}

// combo is one transport x protocol (x strictness) combination.
type combo struct {
	tr     Transport
	p      thriftwire.Proto
	strict bool
}

func (c combo) String() string {
	s := c.tr.String() + "-" + c.p.String()
	if c.p == thriftwire.Binary && !c.strict {
		s += "-nonstrict"
	}
	return s
}

// combos lists every combination the codec must handle.
var combos = []combo{
	{Framed, thriftwire.Binary, true}, {Framed, thriftwire.Binary, false}, {Framed, thriftwire.Compact, true},
	{Unframed, thriftwire.Binary, true}, {Unframed, thriftwire.Binary, false}, {Unframed, thriftwire.Compact, true},
	{Header, thriftwire.Binary, true}, {Header, thriftwire.Compact, true},
}

func decodeAll(t testing.TB, b []byte, cfg Config) ([]*Frame, error) {
	t.Helper()
	p := NewProtocol(cfg)
	buf := buffer.NewIoBufferBytes(append([]byte(nil), b...))
	var out []*Frame
	for {
		v, err := p.Decode(context.Background(), buf)
		if v != nil {
			out = append(out, v.(*Frame))
		}
		if err != nil || v == nil {
			return out, err
		}
	}
}

func decodeOne(t testing.TB, b []byte) *Frame {
	t.Helper()
	fs, err := decodeAll(t, b, Config{})
	require.NoError(t, err)
	require.Len(t, fs, 1)
	return fs[0]
}

func encode(t testing.TB, f api.XFrame) []byte {
	t.Helper()
	out, err := NewProtocol(Config{}).Encode(context.Background(), f)
	require.NoError(t, err)
	return append([]byte(nil), out.Bytes()...)
}
