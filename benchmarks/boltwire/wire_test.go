package boltwire

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshproto/meshproto/protocols/bolt"
	"github.com/meshproto/meshproto/protocols/kit/kittest"
)

// TestFramesReadAsSOFARPC: the benchmark's frames are what the Bolt codec
// reads from sofa-rpc-node (method, service, version, props), and read back.
func TestFramesReadAsSOFARPC(t *testing.T) {
	arg := []byte(strings.Repeat("a", 1024))
	req := AppendRequest(nil, 7, arg)
	fs, err, left := kittest.DecodeAll(bolt.NewXCodec(), req, 0)
	require.NoError(t, err)
	require.Zero(t, left)
	require.Len(t, fs, 1)
	f := fs[0]
	require.NoError(t, f.DecodeError())
	assert.Equal(t, "org.meshproto.demo.BoltEcho", f.Service())
	assert.Equal(t, "1.0.0", f.Version())
	assert.Equal(t, "echo", f.Method())
	v, _ := f.Get("tenant")
	assert.Equal(t, "meshproto", v)

	r := NewReader(bytes.NewReader(append(req, AppendResponse(nil, 7, arg)...)))
	got, err := r.Next()
	require.NoError(t, err)
	assert.True(t, got.Request)
	a, err := RequestArg(got.Content)
	require.NoError(t, err)
	assert.Equal(t, arg, a)
	got, err = r.Next()
	require.NoError(t, err)
	assert.False(t, got.Request)
	assert.Equal(t, uint32(7), got.ID)
	v2, err := ResponseValue(got.Content)
	require.NoError(t, err)
	assert.Equal(t, arg, v2)

	resp, err, _ := kittest.DecodeAll(bolt.NewXCodec(), AppendResponse(nil, 7, arg), 0)
	require.NoError(t, err)
	assert.True(t, resp[0].Succeeded())
	hb, err, _ := kittest.DecodeAll(bolt.NewXCodec(), AppendHeartbeatAck(nil, 9), 0)
	require.NoError(t, err)
	assert.True(t, hb[0].IsHeartbeatFrame())
}
