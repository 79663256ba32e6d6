// Package codecbench puts meshproto's Thrift codec beside Apache Thrift's
// own decoding of the same frames, in one run. It lives in this module
// (which has github.com/apache/thrift and the generated demo types) so
// that Apache Thrift never enters the module graph MOSN is built from.
//
//	cd examples/thrift && go test -run '^$' -bench . -benchmem ./codecbench/
//
// "meshproto" is what the proxy does per request: find the frame, read the
// message header and service, and write the frame out again with a new
// sequence id; the struct is never decoded. "apache" decodes the message
// into the generated GreeterGreetArgs, as a server (or a decoding proxy)
// must.
package codecbench

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/thrift/lib/go/thrift"
	"mosn.io/pkg/buffer"

	meshthrift "github.com/meshproto/meshproto/protocols/thrift"

	"github.com/meshproto/meshproto/examples/thrift/gen-go/demo"
)

var cases = []struct {
	name, file string
	compact    bool
}{
	{"framed-binary", "framed-binary-call.bin", false},
	{"framed-compact", "framed-compact-call.bin", true},
	{"buffered-binary", "buffered-binary-call.bin", false},
}

func fixture(b *testing.B, name string) []byte {
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "protocols", "thrift", "testdata", name))
	if err != nil {
		b.Fatal(err)
	}
	return raw
}

func BenchmarkDecode(b *testing.B) {
	ctx := context.Background()
	for _, tc := range cases {
		raw := fixture(b, tc.file)
		b.Run(tc.name+"/meshproto", func(b *testing.B) {
			p := meshthrift.NewProtocol(meshthrift.Config{})
			in := buffer.NewIoBuffer(len(raw))
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			for i := 0; i < b.N; i++ {
				in.Reset()
				_, _ = in.Write(raw)
				v, err := p.Decode(ctx, in)
				if err != nil || v == nil {
					b.Fatalf("decode: %v", err)
				}
				f := v.(*meshthrift.Frame)
				f.SetRequestId(uint64(i & 0x7fffffff))
				out, err := p.Encode(ctx, f)
				if err != nil {
					b.Fatal(err)
				}
				_ = buffer.PutIoBuffer(out)
			}
		})
		b.Run(tc.name+"/apache", func(b *testing.B) {
			mem := thrift.NewTMemoryBufferLen(len(raw))
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			for i := 0; i < b.N; i++ {
				mem.Reset()
				_, _ = mem.Write(raw)
				var tr thrift.TTransport = mem
				if tc.name != "buffered-binary" {
					tr = thrift.NewTFramedTransportConf(mem, &thrift.TConfiguration{})
				}
				var proto thrift.TProtocol
				if tc.compact {
					proto = thrift.NewTCompactProtocolConf(tr, &thrift.TConfiguration{})
				} else {
					proto = thrift.NewTBinaryProtocolConf(tr, &thrift.TConfiguration{})
				}
				if _, _, _, err := proto.ReadMessageBegin(ctx); err != nil {
					b.Fatal(err)
				}
				args := demo.NewGreeterGreetArgs()
				if err := args.Read(ctx, proto); err != nil {
					b.Fatal(err)
				}
				if err := proto.ReadMessageEnd(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
