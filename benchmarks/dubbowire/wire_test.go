package dubbowire

import (
	"bytes"
	"strings"
	"testing"

	"github.com/meshproto/meshproto/internal/dubbopeer"
)

// TestRequestDecodesWithDubboGoHessian2 checks the hand-written frames
// against dubbopeer (dubbo-go-hessian2), both ways. It runs no load.
func TestRequestDecodesWithDubboGoHessian2(t *testing.T) {
	for _, n := range []int{0, 5, 31, 32, 1023, 1024, 5000, 16 << 10, 65535, 65536, 100 << 10, 200000} {
		arg := []byte(strings.Repeat("a", n))
		req := &Request{Service: "org.example.Echo", Version: "1.0.0", Method: "echo",
			Attachments: [][2]string{{"x-tag", "gray"}, {"k1", "v1"}}}
		frame := AppendRequest(nil, 7, req, arg)
		f, err := dubbopeer.ReadFrame(bytes.NewReader(frame))
		if err != nil {
			t.Fatal(n, err)
		}
		got, err := dubbopeer.DecodeRequest(f)
		if err != nil {
			t.Fatal(n, err)
		}
		if got.Service != req.Service || got.Method != "echo" || got.Version != "1.0.0" ||
			len(got.Args) != 1 || got.Args[0] != string(arg) || got.Attachments["x-tag"] != "gray" {
			t.Fatalf("%d: decoded %+v", n, got)
		}
		enc, err := RequestArg(frame[HeaderLen:])
		if err != nil {
			t.Fatal(n, err)
		}
		resp := AppendResponse(nil, 7, enc)
		rf, err := dubbopeer.ReadFrame(bytes.NewReader(resp))
		if err != nil {
			t.Fatal(n, err)
		}
		res, err := dubbopeer.DecodeResponse(rf)
		if err != nil || !res.OK() || res.Value != string(arg) {
			t.Fatalf("%d: response %+v %v", n, res, err)
		}
		var scratch []byte
		v, err := ResponseValue(resp[HeaderLen:], &scratch)
		if err != nil || !bytes.Equal(v, arg) {
			t.Fatalf("%d: ResponseValue %q %v", n, v, err)
		}
	}
}
