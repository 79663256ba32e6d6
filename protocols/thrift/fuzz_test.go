package thrift

import (
	"context"
	"testing"

	"mosn.io/pkg/buffer"

	"github.com/meshproto/meshproto/internal/thriftwire"
)

// FuzzDecode feeds arbitrary bytes to the decoder: no panic, no loop, and
// every accepted frame survives a header change and a new sequence id and
// encodes to bytes that decode again.
func FuzzDecode(f *testing.F) {
	for _, c := range combos {
		f.Add(wrap(c.tr, c.p, 7, message(c.p, "Greeter:greet", MessageCall, 7, c.strict, argsStruct(c.p)), "x-tag", "gray"))
		f.Add(wrap(c.tr, c.p, 7, message(c.p, "greet", MessageReply, 7, c.strict, replyStruct(c.p, 1))))
		f.Add(wrap(c.tr, c.p, 7, message(c.p, "greet", MessageException, 7, c.strict, thriftwire.AppendApplicationException(c.p, nil, "x", ExcInternalError))))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p := NewProtocol(Config{MaxFrameBytes: 1 << 16})
		buf := buffer.NewIoBufferBytes(append([]byte(nil), data...))
		for i := 0; i < 64; i++ {
			before := buf.Len()
			v, err := p.Decode(context.Background(), buf)
			if err != nil || v == nil {
				return
			}
			fr := v.(*Frame)
			fr.Range(func(k, v string) bool { return true })
			fr.Set("x-fuzz", "1")
			fr.SetRequestId(uint64(i) * 1000003 & 0x7fffffff)
			out, err := p.Encode(context.Background(), fr)
			if err != nil {
				t.Fatalf("encode of a decoded frame: %v", err)
			}
			again, err := NewProtocol(Config{MaxFrameBytes: 1 << 20}).Decode(context.Background(), out)
			if err != nil || again == nil {
				t.Fatalf("re-encoded frame does not decode: %v", err)
			}
			if got := again.(*Frame).GetRequestId(); got != fr.GetRequestId() {
				t.Fatalf("sequence id %d came back as %d", fr.GetRequestId(), got)
			}
			if buf.Len() >= before {
				t.Fatalf("decode made no progress")
			}
		}
	})
}
