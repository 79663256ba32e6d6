package dubbo

import (
	"bytes"
	"context"
	"testing"
	"time"

	hessian "github.com/apache/dubbo-go-hessian2"
	"github.com/stretchr/testify/require"
	"mosn.io/api"
	"mosn.io/pkg/buffer"

	"github.com/meshproto/meshproto/internal/dubbopeer"
)

// Fixtures are produced by a real implementation: dubbo-go-hessian2 v1.10.2
// (through internal/dubbopeer, which frames invocations the way Java Dubbo
// 2.7 does). Hand-written frames are spelled out byte by byte where they
// are used.

// user is a POJO argument, as Java would send com.example.User.
type user struct {
	Name string
	Age  int32
	Tags []string
}

func (user) JavaClassName() string { return "org.meshproto.demo.User" }

// userRequest is the argument type of the captured dubbo-go call.
type userRequest struct {
	ID   string
	Tags []string
	Meta map[string]string
}

func (userRequest) JavaClassName() string { return "org.meshproto.demo.UserRequest" }

func init() {
	hessian.RegisterPOJO(&user{})
	hessian.RegisterPOJO(&userRequest{})
}

// greetInvocation is the common request: a 1 KB string argument and five
// caller attachments besides Dubbo's own.
func greetInvocation() *dubbopeer.Invocation {
	return &dubbopeer.Invocation{
		Service: "org.meshproto.demo.GreetingService",
		Method:  "greet",
		Version: "1.0.0",
		Group:   "blue",
		Args:    []interface{}{string(bytes.Repeat([]byte("x"), 1024))},
		Attachments: map[string]string{
			"x-tag": "gray", "tenant": "t1", "trace-id": "abc123", "zone": "z1", "caller": "consumer-1",
		},
		Timeout: 1500 * time.Millisecond,
	}
}

func mustRequest(t testing.TB, id uint64, inv *dubbopeer.Invocation, twoWay bool) []byte {
	t.Helper()
	b, err := dubbopeer.EncodeRequestFrame(id, inv, twoWay)
	require.NoError(t, err)
	return b
}

func mustResponse(t testing.TB, id uint64, resp *dubbopeer.ServerResponse, event bool) []byte {
	t.Helper()
	b, err := dubbopeer.EncodeResponseFrame(id, resp, event)
	require.NoError(t, err)
	return b
}

// decodeAll decodes every frame in b with a fresh protocol.
func decodeAll(t testing.TB, b []byte) ([]*Frame, error) {
	t.Helper()
	p := NewProtocol(Config{})
	buf := buffer.NewIoBufferBytes(append([]byte(nil), b...))
	var out []*Frame
	for {
		v, err := p.Decode(context.Background(), buf)
		if v != nil {
			out = append(out, v.(*Frame))
		}
		if err != nil || v == nil {
			return out, err
		}
	}
}

func decodeOne(t testing.TB, b []byte) *Frame {
	t.Helper()
	fs, err := decodeAll(t, b)
	require.NoError(t, err)
	require.Len(t, fs, 1)
	return fs[0]
}

// encode runs the codec's encoder and returns the bytes.
func encode(t testing.TB, f api.XFrame) []byte {
	t.Helper()
	out, err := NewProtocol(Config{}).Encode(context.Background(), f)
	require.NoError(t, err)
	return append([]byte(nil), out.Bytes()...)
}

// peerRequest decodes bytes with the peer library (dubbo-go-hessian2).
func peerRequest(t testing.TB, b []byte) *dubbopeer.ServerRequest {
	t.Helper()
	fr, err := dubbopeer.ReadFrame(bytes.NewReader(b))
	require.NoError(t, err)
	req, err := dubbopeer.DecodeRequest(fr)
	require.NoError(t, err)
	return req
}

func peerResponse(t testing.TB, b []byte) *dubbopeer.Result {
	t.Helper()
	fr, err := dubbopeer.ReadFrame(bytes.NewReader(b))
	require.NoError(t, err)
	res, err := dubbopeer.DecodeResponse(fr)
	require.NoError(t, err)
	return res
}
