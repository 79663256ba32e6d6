package thrift

import (
	"bytes"
	"context"
	"testing"

	"mosn.io/pkg/buffer"

	"github.com/meshproto/meshproto/internal/thriftwire"
)

// FuzzDecode feeds arbitrary bytes to the decoder: no panic, no loop; a
// request it could not bound is never encoded; every other frame, after a
// header change and a new sequence id, encodes to exactly one frame that
// decodes cleanly to the same message with the same struct bytes: decode,
// encode and decode agree on where the frame ends.
func FuzzDecode(f *testing.F) {
	for _, c := range combos {
		f.Add(wrap(c.tr, c.p, 7, message(c.p, "Greeter:greet", MessageCall, 7, c.strict, argsStruct(c.p)), "x-tag", "gray"))
		f.Add(wrap(c.tr, c.p, 7, message(c.p, "greet", MessageReply, 7, c.strict, replyStruct(c.p, 1))))
		f.Add(wrap(c.tr, c.p, 7, message(c.p, "greet", MessageException, 7, c.strict, thriftwire.AppendApplicationException(c.p, nil, "x", ExcInternalError))))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := context.Background()
		p := NewProtocol(Config{MaxFrameBytes: 1 << 16})
		buf := buffer.NewIoBufferBytes(append([]byte(nil), data...))
		for i := 0; i < 64; i++ {
			before := buf.Len()
			v, err := p.Decode(ctx, buf)
			if err != nil || v == nil {
				return
			}
			if buf.Len() >= before {
				t.Fatalf("decode made no progress")
			}
			fr := v.(*Frame)
			fr.Range(func(k, v string) bool { return true })
			if fr.DecodeError() != nil {
				if _, err := p.Encode(ctx, fr); err == nil {
					t.Fatalf("a request the codec could not bound was encoded for an upstream")
				}
				continue
			}
			body := append([]byte(nil), fr.Message()[fr.msg.BodyOff:]...)
			fr.Set("x-fuzz", "1")
			fr.SetRequestId(uint64(i) * 1000003 & 0x7fffffff)
			out, err := p.Encode(ctx, fr)
			if err != nil {
				t.Fatalf("encode of a decoded frame: %v", err)
			}
			v2, err := NewProtocol(Config{MaxFrameBytes: 1 << 20}).Decode(ctx, out)
			if err != nil || v2 == nil {
				t.Fatalf("re-encoded frame does not decode: %v", err)
			}
			// Frame boundaries agree: exactly one frame, nothing left over,
			// the struct bytes untouched.
			if out.Len() != 0 {
				t.Fatalf("re-encoded frame has %d bytes past its end", out.Len())
			}
			again := v2.(*Frame)
			if again.DecodeError() != nil {
				t.Fatalf("re-encoded frame decodes with an error: %v", again.DecodeError())
			}
			if got := again.GetRequestId(); got != fr.GetRequestId() {
				t.Fatalf("sequence id %d came back as %d", fr.GetRequestId(), got)
			}
			if again.name != fr.name || again.msgType != fr.msgType || again.transport != fr.transport || again.proto != fr.proto {
				t.Fatalf("message changed: %q %d %s %s -> %q %d %s %s", fr.name, fr.msgType, fr.transport, fr.proto, again.name, again.msgType, again.transport, again.proto)
			}
			if !bytes.Equal(again.Message()[again.msg.BodyOff:], body) {
				t.Fatalf("struct bytes changed")
			}
			if fr.transport == Header {
				if v, _ := again.Get("x-fuzz"); v != "1" {
					t.Fatalf("a header set on a THeader frame was lost")
				}
			}
		}
	})
}
