package dubbo

import (
	"context"
	"strings"
	"testing"

	"mosn.io/api"
	mosndubbo "mosn.io/mosn/pkg/protocol/xprotocol/dubbo"
	"mosn.io/mosn/pkg/types"
	"mosn.io/pkg/buffer"
	"mosn.io/pkg/variable"

	"github.com/meshproto/meshproto/internal/dubbopeer"
)

// The benchmarks put meshproto's codec beside MOSN's built-in dubbo codec
// in one run, on the same frames. "builtin-service" is MOSN's default path
// (service, method, version only); "builtin-attachments" is its
// ingress_dubbo listener path, the one that also decodes attachments,
// which is what meshproto always does.
//
//	go test -run '^$' -bench . -benchmem ./protocols/dubbo/

type benchCase struct {
	name string
	raw  []byte
}

func benchCases(b *testing.B) []benchCase {
	big := greetInvocation()
	big.Args = []interface{}{strings.Repeat("y", 16<<10)}
	pojo := greetInvocation()
	pojo.Args = []interface{}{&user{Name: "n", Age: 30, Tags: []string{"a", "b", "c"}}, []interface{}{int32(1), "x"}, map[interface{}]interface{}{"k": "v"}}
	pojo.ParamTypes = "Lorg/meshproto/demo/User;Ljava/util/List;Ljava/util/Map;"
	return []benchCase{
		{"request-1KB-5att", mustRequest(b, 1, greetInvocation(), true)},
		{"request-16KB", mustRequest(b, 1, big, true)},
		{"request-pojo-list-map", mustRequest(b, 1, pojo, true)},
		{"response", mustResponse(b, 1, &dubbopeer.ServerResponse{Value: strings.Repeat("r", 1024), Attachments: map[string]string{"a": "b"}}, false)},
		{"heartbeat", dubbopeer.EncodeHeartbeat(1, true)},
	}
}

// decodeEncode decodes raw from a reused buffer and encodes the frame, as
// MOSN does once per request on each side of the proxy.
func BenchmarkDecodeEncode(b *testing.B) {
	listenerCtx := variable.NewVariableContext(context.Background())
	_ = variable.Set(listenerCtx, types.VariableListenerName, mosndubbo.IngressDubbo)
	for _, bc := range benchCases(b) {
		impls := []struct {
			name  string
			proto api.XProtocol
			ctx   context.Context
		}{
			{"meshproto", NewProtocol(Config{}), context.Background()},
			{"builtin-service", (&mosndubbo.XCodec{}).NewXProtocol(context.Background()), variable.NewVariableContext(context.Background())},
			{"builtin-attachments", (&mosndubbo.XCodec{}).NewXProtocol(context.Background()), listenerCtx},
		}
		for _, impl := range impls {
			b.Run(bc.name+"/"+impl.name, func(b *testing.B) {
				in := buffer.NewIoBuffer(len(bc.raw))
				b.ReportAllocs()
				b.SetBytes(int64(len(bc.raw)))
				for i := 0; i < b.N; i++ {
					in.Reset()
					_, _ = in.Write(bc.raw)
					v, err := impl.proto.Decode(impl.ctx, in)
					if err != nil || v == nil {
						b.Fatalf("decode: %v", err)
					}
					f := v.(api.XFrame)
					f.SetRequestId(uint64(i))
					out, err := impl.proto.Encode(impl.ctx, f)
					if err != nil {
						b.Fatalf("encode: %v", err)
					}
					_ = buffer.PutIoBuffer(out)
				}
			})
		}
	}
}

// BenchmarkAttachmentRewrite: a filter sets one attachment, the codec
// writes it back. MOSN's built-in codec has no equivalent (its changes are
// not written to the wire), so there is nothing to compare with.
func BenchmarkAttachmentRewrite(b *testing.B) {
	raw := mustRequest(b, 1, greetInvocation(), true)
	p := NewProtocol(Config{})
	in := buffer.NewIoBuffer(len(raw))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		in.Reset()
		_, _ = in.Write(raw)
		v, err := p.Decode(context.Background(), in)
		if err != nil {
			b.Fatal(err)
		}
		f := v.(*Frame)
		f.Set("x-mesh-route", "canary")
		out, err := p.Encode(context.Background(), f)
		if err != nil {
			b.Fatal(err)
		}
		_ = buffer.PutIoBuffer(out)
	}
}
