// Package wirecheck checks benchmarks/thriftwire, the benchmark peers'
// hand-written Thrift frames, against Apache Thrift 0.17 both ways. It
// lives in this module so that Apache Thrift stays out of the module graph
// MOSN and the plugins are built from.
package wirecheck

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/apache/thrift/lib/go/thrift"

	"github.com/meshproto/meshproto/benchmarks/thriftwire"
)

var kinds = []struct {
	name string
	kind thriftwire.Kind
	// proto wraps a memory transport the way a client of that kind does.
	proto func(thrift.TTransport) thrift.TProtocol
}{
	{"framed-binary", thriftwire.FramedBinary, func(t thrift.TTransport) thrift.TProtocol {
		conf := &thrift.TConfiguration{}
		return thrift.NewTBinaryProtocolConf(thrift.NewTFramedTransportConf(t, conf), conf)
	}},
	{"header-compact", thriftwire.HeaderCompact, func(t thrift.TTransport) thrift.TProtocol {
		return thrift.NewTHeaderProtocolConf(t, &thrift.TConfiguration{THeaderProtocolID: thrift.THeaderProtocolIDPtrMust(thrift.THeaderProtocolCompact)})
	}},
}

func TestThriftwireAgainstApacheThrift(t *testing.T) {
	ctx := context.Background()
	for _, k := range kinds {
		for _, n := range []int{0, 1, 1024, 16 << 10, 100 << 10} {
			value := strings.Repeat("v", n)
			t.Run(k.name, func(t *testing.T) {
				// Our call, read by Apache Thrift.
				frame := thriftwire.AppendMessage(nil, k.kind, thriftwire.Call, "EchoService:echo", 42, []byte(value))
				p := k.proto(&thrift.TMemoryBuffer{Buffer: bytes.NewBuffer(frame)})
				name, typ, seq, err := p.ReadMessageBegin(ctx)
				if err != nil || name != "EchoService:echo" || typ != thrift.CALL || seq != 42 {
					t.Fatalf("message begin: %q %v %d %v", name, typ, seq, err)
				}
				got := readOneString(t, p, 1)
				if got != value {
					t.Fatalf("argument of %d bytes read as %d", n, len(got))
				}

				// Apache Thrift's reply, read by us.
				out := &thrift.TMemoryBuffer{Buffer: new(bytes.Buffer)}
				w := k.proto(out)
				must(t, w.WriteMessageBegin(ctx, "EchoService:echo", thrift.REPLY, 42))
				must(t, w.WriteStructBegin(ctx, "result"))
				must(t, w.WriteFieldBegin(ctx, "success", thrift.STRING, 0))
				must(t, w.WriteString(ctx, value))
				must(t, w.WriteFieldEnd(ctx))
				must(t, w.WriteFieldStop(ctx))
				must(t, w.WriteStructEnd(ctx))
				must(t, w.WriteMessageEnd(ctx))
				must(t, w.Flush(ctx))
				b := out.Bytes()
				m, err := thriftwire.Parse(k.kind, b[4:])
				if err != nil || m.Type != thriftwire.Reply || m.Seq != 42 || string(m.Name) != "EchoService:echo" || string(m.Value) != value {
					t.Fatalf("reply parsed as type %d seq %d name %q, %d bytes, %v", m.Type, m.Seq, m.Name, len(m.Value), err)
				}

				// Our reply parses back.
				mine := thriftwire.AppendMessage(nil, k.kind, thriftwire.Reply, "EchoService:echo", 7, []byte(value))
				m, err = thriftwire.Parse(k.kind, mine[4:])
				if err != nil || m.Seq != 7 || string(m.Value) != value {
					t.Fatalf("own reply: %v", err)
				}
			})
		}
	}
}

func readOneString(t *testing.T, p thrift.TProtocol, id int16) string {
	t.Helper()
	ctx := context.Background()
	if _, err := p.ReadStructBegin(ctx); err != nil {
		t.Fatal(err)
	}
	_, typ, fid, err := p.ReadFieldBegin(ctx)
	if err != nil || typ != thrift.STRING || fid != id {
		t.Fatalf("field: %v %d %v", typ, fid, err)
	}
	s, err := p.ReadString(ctx)
	if err != nil {
		t.Fatal(err)
	}
	must(t, p.ReadFieldEnd(ctx))
	if _, typ, _, err = p.ReadFieldBegin(ctx); err != nil || typ != thrift.STOP {
		t.Fatalf("want stop, got %v %v", typ, err)
	}
	return s
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
