package dubbo

import (
	"context"
	"testing"

	"mosn.io/pkg/buffer"

	"github.com/meshproto/meshproto/internal/dubbopeer"
)

// FuzzDecode feeds arbitrary bytes to the decoder. It must never panic or
// loop, and every frame it accepts must survive an attachment change and
// encode to bytes that decode again.
func FuzzDecode(f *testing.F) {
	inv := greetInvocation()
	for _, seed := range [][]byte{
		mustRequest(f, 1, inv, true),
		mustRequest(f, 2, inv, false),
		dubbopeer.EncodeHeartbeat(3, true),
		dubbopeer.EncodeHeartbeat(4, false),
		mustResponse(f, 5, &dubbopeer.ServerResponse{Value: "v", Attachments: map[string]string{"a": "b"}}, false),
		mustResponse(f, 6, &dubbopeer.ServerResponse{Exception: "e"}, false),
		mustResponse(f, 7, &dubbopeer.ServerResponse{Status: StatusServiceError, ErrorMessage: "m"}, false),
		{0xda, 0xbb, 0xa2, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 2, 0x01, 'R'},
		{0xda, 0xbb, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff},
	} {
		f.Add(seed)
	}
	user := &user{Name: "x", Age: 1, Tags: []string{"a"}}
	inv2 := greetInvocation()
	inv2.Args, inv2.ParamTypes = []interface{}{user, user, map[interface{}]interface{}{"k": []interface{}{user}}}, "Lorg/meshproto/demo/User;Lorg/meshproto/demo/User;Ljava/util/Map;"
	f.Add(mustRequest(f, 8, inv2, true))

	f.Fuzz(func(t *testing.T, data []byte) {
		p := NewProtocol(Config{MaxFrameBytes: 1 << 20})
		buf := buffer.NewIoBufferBytes(append([]byte(nil), data...))
		for i := 0; i < 64; i++ {
			before := buf.Len()
			v, err := p.Decode(context.Background(), buf)
			if v == nil {
				return
			}
			fr := v.(*Frame)
			fr.Range(func(k, v string) bool { return true })
			if err == nil {
				fr.Set("x-fuzz", "1")
				out, encErr := p.Encode(context.Background(), fr)
				if encErr == nil {
					again, err2 := p.Decode(context.Background(), out)
					if err2 == nil && again == nil {
						t.Fatalf("re-encoded frame is incomplete")
					}
				}
			}
			if buf.Len() >= before {
				t.Fatalf("decode made no progress")
			}
		}
	})
}
