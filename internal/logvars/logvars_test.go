package logvars

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"mosn.io/api"
	_ "mosn.io/mosn/pkg/proxy" // registers the variables the proxy sets
	"mosn.io/mosn/pkg/types"
	"mosn.io/pkg/variable"

	"github.com/meshproto/meshproto/protocols/bolt"
	"github.com/meshproto/meshproto/protocols/kit"
	"github.com/meshproto/meshproto/protocols/kit/kittest"
	"github.com/meshproto/meshproto/protocols/rpcmeta"
)

func frame(t *testing.T, name string) *kit.Frame {
	t.Helper()
	b := kittest.LoadHex(t, filepath.Join("../../examples/bolt/fixtures", name+".hex"))
	fs, err, _ := kittest.DecodeAll(bolt.NewXCodec(), b, 0)
	require.NoError(t, err)
	require.Len(t, fs, 1)
	return fs[0]
}

// stream is a context as MOSN's proxy leaves it when it logs a stream.
func stream(req, resp api.HeaderMap, hijack int, lr *rpcmeta.LocalReply) context.Context {
	ctx := variable.NewVariableContext(context.Background())
	_ = variable.Set(ctx, types.VariableDownStreamReqHeaders, req)
	if resp != nil {
		_ = variable.Set(ctx, types.VariableDownStreamRespHeaders, resp)
	}
	if hijack == -1 { // MOSN's CodecExceptionCode is 0
		hijack = 0
		_ = variable.SetString(ctx, types.VarHeaderStatus, "0")
	}
	if hijack != 0 {
		_ = variable.SetString(ctx, types.VarHeaderStatus, strconv.Itoa(hijack))
	}
	if lr != nil {
		_ = rpcmeta.SetLocalReply(ctx, lr)
	}
	return ctx
}

// unreadable is a Bolt request whose header map runs past its end.
func unreadable(t *testing.T) *kit.Frame {
	b := kittest.LoadHex(t, filepath.Join("../../examples/bolt/fixtures", "v1_request_echo.hex"))
	b[22+44+3] = 0xff
	fs, err, _ := kittest.DecodeAll(bolt.NewXCodec(), b, 0)
	require.NoError(t, err)
	require.Error(t, fs[0].DecodeError())
	return fs[0]
}

func TestVariables(t *testing.T) {
	Register()
	Register() // a second plugin's call is harmless
	req := frame(t, "v1_request_echo_props")
	oneway := frame(t, "v1_request_oneway")
	ok := frame(t, "v1_response_ok")
	failed := frame(t, "v1_response_error_fail")
	tests := []struct {
		name string
		ctx  context.Context
		want map[string]string
	}{
		{"answered", stream(req, ok, 0, nil), map[string]string{
			Protocol: "bolt", Service: "org.meshproto.demo.BoltEcho", Method: "echo", Version: "1.0.0", RequestID: "1",
			Kind: "request", Outcome: "success", Status: "0", Error: "-", ReqPrefix + "tenant": "meshproto", RespPrefix + "tenant": "-"}},
		{"server exception", stream(req, failed, 0, nil), map[string]string{Outcome: "failure", Status: "2", Error: "-"}},
		{"no route", stream(req, req, api.RouterUnavailableCode, nil), map[string]string{
			Outcome: "local", Status: "404", Error: "no route for this service", RespPrefix + "tenant": "-"}},
		{"filter's answer", stream(req, nil, 429, &rpcmeta.LocalReply{Message: "slow down"}), map[string]string{Outcome: "local", Status: "429", Error: "slow down"}},
		{"unreadable request", stream(unreadable(t), nil, -1, nil), map[string]string{Outcome: "local", Status: "400", Service: "-"}},
		{"oneway", stream(oneway, nil, 0, nil), map[string]string{Kind: "oneway", Outcome: "none", Status: "-", Group: "-"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for name, want := range tc.want {
				got, err := variable.GetString(tc.ctx, name)
				if want == "-" {
					assert.Error(t, err, name)
					continue
				}
				require.NoError(t, err, name)
				assert.Equal(t, want, got, name)
			}
		})
	}
	// MOSN renumbers the request for its upstream connection in place; the
	// log keeps the caller's id.
	req.SetRequestId(77)
	id, err := variable.GetString(stream(req, ok, 0, nil), RequestID)
	require.NoError(t, err)
	assert.Equal(t, "1", id)
	// JSON lines: escaped, one object.
	line, err := variable.GetString(stream(req, req, api.RouterUnavailableCode, &rpcmeta.LocalReply{Message: "a \"quoted\"\nmessage \xff"}), JSON)
	require.NoError(t, err)
	var obj map[string]string
	require.NoError(t, json.Unmarshal([]byte(line), &obj), line)
	assert.Equal(t, map[string]string{"protocol": "bolt", "kind": "request", "service": "org.meshproto.demo.BoltEcho", "method": "echo",
		"version": "1.0.0", "request_id": "1", "outcome": "local", "status": "404", "error": "a \"quoted\"\nmessage \ufffd"}, obj)
	for _, name := range []string{Protocol, Service, Outcome, JSON, ReqPrefix + "x"} {
		_, err := variable.Check(name)
		assert.NoError(t, err, "a format naming %s finds it", name)
	}
}
