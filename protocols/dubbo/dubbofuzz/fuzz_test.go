// Package dubbofuzz holds the Dubbo decoder's fuzz target. It is its own
// package, seeded from files, so that the fuzzing binary links only the
// codec: with dubbo-go-hessian2 (the test peers) linked in, coverage-guided
// fuzzing ran about 30 inputs a second instead of thousands.
package dubbofuzz

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"mosn.io/pkg/buffer"

	"github.com/meshproto/meshproto/protocols/dubbo"
)

// FuzzDecode feeds arbitrary bytes to the decoder. It must never panic or
// loop; a request it could not read is never encoded; every other frame,
// after an attachment change and a new request id, encodes to exactly one
// frame that decodes cleanly with the same id, kind, routing fields and
// attachments.
func FuzzDecode(f *testing.F) {
	for _, dir := range []string{"../testdata/seeds", "../testdata"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.bin"))
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := context.Background()
		p := dubbo.NewProtocol(dubbo.Config{MaxFrameBytes: 1 << 20})
		buf := buffer.NewIoBufferBytes(append([]byte(nil), data...))
		for i := 0; i < 64; i++ {
			before := buf.Len()
			v, err := p.Decode(ctx, buf)
			if v == nil {
				return
			}
			if buf.Len() >= before {
				t.Fatalf("decode made no progress")
			}
			fr := v.(*dubbo.Frame)
			fr.Range(func(k, v string) bool { return true })
			if err != nil || fr.DecodeError() != nil {
				if _, encErr := p.Encode(ctx, fr); fr.IsRequest() && encErr == nil {
					t.Fatalf("a request with a decode error was encoded for an upstream")
				}
				continue
			}
			fr.Set("x-fuzz", "1")
			fr.SetRequestId(uint64(i)*1000003 + 1)
			out, encErr := p.Encode(ctx, fr)
			if encErr != nil {
				t.Fatalf("encode of a decoded frame: %v", encErr)
			}
			v2, err := dubbo.NewProtocol(dubbo.Config{MaxFrameBytes: 1 << 21}).Decode(ctx, out)
			if err != nil || v2 == nil {
				t.Fatalf("re-encoded frame does not decode: %v", err)
			}
			if out.Len() != 0 {
				t.Fatalf("re-encoded frame has %d bytes past its end", out.Len())
			}
			again := v2.(*dubbo.Frame)
			if again.DecodeError() != nil {
				t.Fatalf("re-encoded frame decodes with an error: %v", again.DecodeError())
			}
			if again.GetRequestId() != fr.GetRequestId() || again.IsRequest() != fr.IsRequest() || again.IsEvent() != fr.IsEvent() {
				t.Fatalf("id/kind changed: %d %v %v -> %d %v %v", fr.GetRequestId(), fr.IsRequest(), fr.IsEvent(), again.GetRequestId(), again.IsRequest(), again.IsEvent())
			}
			if again.Service() != fr.Service() || again.Method() != fr.Method() || again.Version() != fr.Version() || again.Group() != fr.Group() {
				t.Fatalf("routing fields changed: %q %q -> %q %q", fr.Service(), fr.Method(), again.Service(), again.Method())
			}
			if a, b := attachments(fr), attachments(again); !equal(a, b) {
				t.Fatalf("attachments changed: %v -> %v", a, b)
			}
		}
	})
}

func attachments(f *dubbo.Frame) map[string]string {
	m := map[string]string{}
	f.Range(func(k, v string) bool { m[k] = v; return true })
	return m
}

func equal(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
