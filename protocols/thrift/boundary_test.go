package thrift

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"mosn.io/pkg/buffer"

	"github.com/meshproto/meshproto/internal/thriftwire"
)

// The wedge of issue 12: a framed (or THeader) frame whose message does not
// fill it exactly was forwarded with its length. Apache Thrift's
// TFramedTransport then read the leftover bytes, or the next client's
// frame, as the rest of the message, and the shared upstream connection
// stayed desynced for everyone. Such a frame is never forwarded now: a
// two-way call is answered with PROTOCOL_ERROR (connection kept), a oneway
// call or a reply closes that one connection.
func TestFramedMessageMustFillItsFrame(t *testing.T) {
	type shape struct {
		name   string
		mutate func(msg []byte) []byte
	}
	shapes := []shape{
		{"bytes after the struct", func(msg []byte) []byte { return append(msg, 0, 0, 0, 0) }},
		{"one stray byte after the struct", func(msg []byte) []byte { return append(msg, 0x0b) }},
		{"struct cut short inside the frame", func(msg []byte) []byte { return msg[:len(msg)-3] }},
		{"missing field stop", func(msg []byte) []byte { return msg[:len(msg)-1] }},
	}
	for _, cb := range combos {
		if cb.tr == Unframed {
			continue // bounded by stepping over the struct: exact by construction
		}
		for _, sh := range shapes {
			t.Run(cb.String()+"/"+sh.name, func(t *testing.T) {
				call := wrap(cb.tr, cb.p, 7, sh.mutate(message(cb.p, "Greeter:greet", MessageCall, 7, cb.strict, argsStruct(cb.p))))
				fs, err := decodeAll(t, call, Config{})
				require.NoError(t, err, "a two-way call is answered, its connection kept")
				require.Len(t, fs, 1)
				require.Error(t, fs[0].DecodeError())
				assert.Contains(t, fs[0].DecodeError().Error(), "payload")
				_, err = NewProtocol(Config{}).Encode(context.Background(), fs[0])
				assert.Error(t, err, "never encoded for an upstream")
				exc := NewProtocol(Config{}).Hijack(context.Background(), fs[0], uint32(ExcInternalError))
				require.NotNil(t, exc)
				reply := decodeOne(t, encode(t, exc))
				assert.Equal(t, ExcProtocolError, reply.ApplicationExceptionType(), "answered with PROTOCOL_ERROR")

				oneway := wrap(cb.tr, cb.p, 8, sh.mutate(message(cb.p, "Greeter:notify", MessageOneway, 8, cb.strict, argsStruct(cb.p))))
				_, err = decodeAll(t, oneway, Config{})
				assert.Error(t, err, "a oneway call nobody can answer closes the connection")

				rep := wrap(cb.tr, cb.p, 9, sh.mutate(message(cb.p, "greet", MessageReply, 9, cb.strict, replyStruct(cb.p, 0))))
				_, err = decodeAll(t, rep, Config{})
				var ce *ConnError
				assert.ErrorAs(t, err, &ce, "a reply that does not fill its frame closes the upstream connection")
			})
		}
		t.Run(cb.String()+"/exact frame is forwarded", func(t *testing.T) {
			f := decodeOne(t, wrap(cb.tr, cb.p, 7, message(cb.p, "Greeter:greet", MessageCall, 7, cb.strict, argsStruct(cb.p))))
			require.NoError(t, f.DecodeError())
		})
	}
}

// After a bad frame the next good one on the same connection decodes
// from the right offset.
func TestGoodFrameAfterABadOne(t *testing.T) {
	bad := wrap(Framed, thriftwire.Binary, 1, append(message(thriftwire.Binary, "Greeter:greet", MessageCall, 1, true, argsStruct(thriftwire.Binary)), 0xff, 0xff))
	good := wrap(Framed, thriftwire.Binary, 2, message(thriftwire.Binary, "Greeter:greet", MessageCall, 2, true, argsStruct(thriftwire.Binary)))
	p := NewProtocol(Config{})
	buf := buffer.NewIoBufferBytes(append(append([]byte(nil), bad...), good...))
	v, err := p.Decode(context.Background(), buf)
	require.NoError(t, err)
	require.Error(t, v.(*Frame).DecodeError())
	v, err = p.Decode(context.Background(), buf)
	require.NoError(t, err)
	require.NoError(t, v.(*Frame).DecodeError())
	assert.Equal(t, uint64(2), v.(*Frame).GetRequestId())
	assert.Zero(t, buf.Len())
}
