package rpcmeta

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"mosn.io/api"
	"mosn.io/pkg/variable"
)

type hijackRecorder struct {
	api.StreamReceiverFilterHandler
	code    int
	headers api.HeaderMap
}

func (h *hijackRecorder) SendHijackReply(code int, headers api.HeaderMap) {
	h.code, h.headers = code, headers
}

type stubRequest struct {
	api.HeaderMap
	proto string
}

func (s stubRequest) RPCProtocol() string { return s.proto }
func (stubRequest) Service() string       { return "S" }
func (stubRequest) Method() string        { return "m" }
func (stubRequest) Version() string       { return "" }
func (stubRequest) Group() string         { return "" }

func TestRespondRecordsTheNativeReply(t *testing.T) {
	cfg := ErrorConfig{HTTPStatus: 429, Message: "slow down", Native: map[string]uint32{"dubbo": 100, "thrift": 6}}
	require.NoError(t, cfg.Validate("rate_limit.error"))
	for proto, want := range map[string]uint32{"dubbo": 100, "thrift": 6} {
		ctx := variable.NewVariableContext(context.Background())
		h := &hijackRecorder{}
		Respond(ctx, h, stubRequest{proto: proto}, cfg, 503)
		assert.Equal(t, 429, h.code)
		lr := GetLocalReply(ctx)
		require.NotNil(t, lr)
		assert.True(t, lr.HasNative)
		assert.Equal(t, want, lr.Native)
		assert.Equal(t, "slow down", lr.Message)
	}
	// A protocol without a native entry falls back to mapping the code.
	ctx := variable.NewVariableContext(context.Background())
	h := &hijackRecorder{}
	Respond(ctx, h, stubRequest{proto: "private"}, ErrorConfig{}, 503)
	assert.Equal(t, 503, h.code)
	assert.False(t, GetLocalReply(ctx).HasNative)
	assert.Nil(t, GetLocalReply(variable.NewVariableContext(context.Background())))
}

func TestErrorConfigValidate(t *testing.T) {
	for _, bad := range []ErrorConfig{
		{HTTPStatus: 42},
		{Native: map[string]uint32{"dubbo": 300}},
		{Native: map[string]uint32{"dubbo": 0}},
		{Native: map[string]uint32{"thrift": 11}},
	} {
		err := bad.Validate("x.error")
		require.Error(t, err)
		assert.Contains(t, err.Error(), "x.error")
	}
	assert.NoError(t, ErrorConfig{}.Validate("x"))
}
