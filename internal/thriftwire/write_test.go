package thriftwire

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAppendMessageHeader(t *testing.T) {
	cases := []struct {
		name   string
		p      Proto
		strict bool
		typ    uint8
		seq    int32
		method string
		want   []byte
	}{
		{"binary strict", Binary, true, MessageReply, 7, "greet",
			bs(0x80, 0x01, 0x00, 0x02, 0, 0, 0, 5, "greet", 0, 0, 0, 7)},
		{"binary strict negative seqid", Binary, true, MessageException, -2, "Greeter:greet",
			bs(0x80, 0x01, 0x00, 0x03, 0, 0, 0, 13, "Greeter:greet", 0xff, 0xff, 0xff, 0xfe)},
		{"binary non-strict", Binary, false, MessageCall, 256, "greet",
			bs(0, 0, 0, 5, "greet", 0x01, 0, 0, 0x01, 0x00)},
		{"compact seqid 7", Compact, false, MessageReply, 7, "greet",
			bs(0x82, 0x41, 0x07, 0x05, "greet")},
		{"compact seqid 128 exception", Compact, true, MessageException, 128, "Greeter:greet",
			bs(0x82, 0x61, 0x80, 0x01, 0x0d, "Greeter:greet")},
		{"compact seqid -1 oneway", Compact, false, MessageOneway, -1, "g",
			bs(0x82, 0x81, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, "g")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := AppendMessageHeader(tc.p, []byte("pre"), tc.method, tc.typ, tc.seq, tc.strict)
			require.Equal(t, append([]byte("pre"), tc.want...), got)
			h, err := ReadMessageHeader(tc.p, got[3:])
			require.NoError(t, err)
			assert.Equal(t, tc.method, string(h.Name))
			assert.Equal(t, tc.typ, h.Type)
			assert.Equal(t, tc.seq, h.SeqID)
			assert.Equal(t, tc.strict && tc.p == Binary, h.Strict)
			assert.Equal(t, len(tc.want), h.BodyOff)
		})
	}
}

func TestAppendApplicationException(t *testing.T) {
	cases := []struct {
		name string
		p    Proto
		msg  string
		typ  int32
		want []byte
	}{
		{"binary", Binary, "boom", ExcUnknownMethod, bs(
			0x0b, 0x00, 0x01, 0, 0, 0, 4, "boom", // 1: string message
			0x08, 0x00, 0x02, 0, 0, 0, 1, // 2: i32 type UNKNOWN_METHOD
			0x00)},
		{"binary empty message internal error", Binary, "", ExcInternalError, bs(
			0x0b, 0x00, 0x01, 0, 0, 0, 0,
			0x08, 0x00, 0x02, 0, 0, 0, 6,
			0x00)},
		{"compact", Compact, "boom", ExcUnknownMethod, bs(
			0x18, 0x04, "boom", // 1 (delta 1): binary message
			0x15, 0x02, // 2 (delta 1): i32 1 (zigzag 2)
			0x00)},
		{"compact protocol error", Compact, "bad frame", ExcProtocolError, bs(
			0x18, 0x09, "bad frame",
			0x15, 0x0e, // 7 (zigzag 14)
			0x00)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := AppendApplicationException(tc.p, nil, tc.msg, tc.typ)
			require.Equal(t, tc.want, got)
			require.Equal(t, tc.want, encStruct(tc.p, nil, tStruct{{1, tc.msg}, {2, tc.typ}}))
			end, err := SkipStruct(tc.p, got, 0, 0)
			require.NoError(t, err)
			assert.Equal(t, len(got), end)
		})
	}
}

// A complete exception reply, as the proxy would build it, parses back.
func TestExceptionReplyRoundTrip(t *testing.T) {
	for _, p := range []Proto{Binary, Compact} {
		for _, strict := range []bool{true, false} {
			buf := AppendMessageHeader(p, nil, "Greeter:greet", MessageException, 42, strict)
			buf = AppendApplicationException(p, buf, "no healthy upstream", ExcInternalError)

			pp, err := DetectProto(buf)
			require.NoError(t, err)
			require.Equal(t, p, pp)
			h, err := ReadMessageHeader(p, buf)
			require.NoError(t, err)
			assert.Equal(t, "Greeter:greet", string(h.Name))
			assert.Equal(t, MessageException, h.Type)
			assert.Equal(t, int32(42), h.SeqID)
			id, typ, err := FirstField(p, buf, h.BodyOff)
			require.NoError(t, err)
			assert.Equal(t, int16(1), id)
			assert.Equal(t, TypeString, typ)
			end, err := SkipStruct(p, buf, h.BodyOff, 0)
			require.NoError(t, err)
			assert.Equal(t, len(buf), end)
		}
	}
}

func TestStringers(t *testing.T) {
	assert.Equal(t, "binary", Binary.String())
	assert.Equal(t, "compact", Compact.String())
	assert.Equal(t, "Proto(9)", Proto(9).String())
	assert.Equal(t, "uuid", TypeUUID.String())
	assert.Equal(t, "stop", TypeStop.String())
	assert.Equal(t, "Type(5)", Type(5).String())
	assert.Equal(t, "Type(200)", Type(200).String())
}

func TestApplicationExceptionTypeReadsWhatAppendWrites(t *testing.T) {
	for _, p := range []Proto{Binary, Compact} {
		for _, typ := range []int32{ExcUnknown, ExcUnknownMethod, ExcInternalError, ExcProtocolError} {
			b := AppendApplicationException(p, []byte{0xAA}, "no such method", typ)
			got, err := ApplicationExceptionType(p, b, 1)
			if err != nil || got != typ {
				t.Fatalf("%v type %d: got %d, %v", p, typ, got, err)
			}
		}
		if _, err := ApplicationExceptionType(p, []byte{11, 0, 1, 0x7f}, 0); err == nil && p == Binary {
			t.Fatalf("%v: truncated string accepted", p)
		}
	}
}
