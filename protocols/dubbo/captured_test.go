package dubbo

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"mosn.io/api"

	"github.com/meshproto/meshproto/protocols/rpcmeta"
)

// TestCapturedDubboGoFrames decodes bytes written by a real dubbo-go v3.0.5
// consumer and provider (see testdata/README.md).
func TestCapturedDubboGoFrames(t *testing.T) {
	reqRaw, err := os.ReadFile("testdata/dubbogo-3.0.5-getUser-request.bin")
	require.NoError(t, err)
	req := decodeOne(t, reqRaw)
	assert.Equal(t, api.Request, req.GetStreamType())
	assert.Equal(t, "org.meshproto.demo.UserProvider", req.Service())
	assert.Equal(t, "getUser", req.Method())
	assert.Equal(t, "1.0.0", req.Version())
	assert.Equal(t, "Lorg/meshproto/demo/UserRequest;", req.ParamTypes())
	for k, want := range map[string]string{"x-tag": "gray", "async": "false", "environment": "dev", "timeout": "0", rpcmeta.KeyMethod: "getUser"} {
		got, ok := req.Get(k)
		assert.True(t, ok, k)
		assert.Equal(t, want, got, k)
	}
	// dubbo-go v3.0.5 always sends timeout "0": that means no timeout, not
	// an expired one.
	assert.Equal(t, int32(0), req.GetTimeout())

	// An attachment change keeps the POJO argument intact.
	before := peerRequest(t, reqRaw)
	req.Set("x-mesh-route", "captured")
	after := peerRequest(t, encode(t, req))
	assert.Equal(t, before.Args, after.Args)
	assert.Equal(t, "captured", after.Attachments["x-mesh-route"])

	respRaw, err := os.ReadFile("testdata/dubbogo-3.0.5-getUser-response.bin")
	require.NoError(t, err)
	resp := decodeOne(t, respRaw)
	assert.Equal(t, api.Response, resp.GetStreamType())
	assert.Equal(t, uint32(StatusOK), resp.GetStatusCode())
	assert.Equal(t, RespValueAttachments, resp.ResponseType())
	v, ok := resp.Get("x-tag")
	assert.True(t, ok, "dubbo-go echoes request attachments in its response")
	assert.Equal(t, "gray", v)
	assert.Equal(t, respRaw, encode(t, resp))
}
