package connlimit

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"mosn.io/api"
	"mosn.io/pkg/variable"

	"github.com/meshproto/meshproto/protocols/rpcmeta"
	"github.com/meshproto/meshproto/streamfilters/internal/filtertest"
)

func stream(t *testing.T, fac api.StreamFilterChainFactory, h *filtertest.Handler) (api.StreamReceiverFilter, api.StreamFilterStatus, context.Context) {
	c := &filtertest.ReceiverCallbacks{}
	fac.CreateFilterChain(context.Background(), c)
	f := c.Receiver()
	f.SetReceiveFilterHandler(h)
	ctx := variable.NewVariableContext(context.Background())
	return f, f.OnReceive(ctx, filtertest.NewRequest("dubbo", "S", "m"), nil, nil), ctx
}

func TestCapPerConnection(t *testing.T) {
	fac, err := CreateFilterFactory(map[string]interface{}{"max_in_flight": 2, "error": map[string]interface{}{"native": map[string]interface{}{"dubbo": 100}}})
	require.NoError(t, err)
	f := fac.(*Factory)
	a := &filtertest.Handler{Conn: &filtertest.Conn{ConnID: 1}}
	s1, st, _ := stream(t, fac, a)
	assert.Equal(t, api.StreamFilterContinue, st)
	s2, st, _ := stream(t, fac, a)
	assert.Equal(t, api.StreamFilterContinue, st)
	s3, st, ctx := stream(t, fac, a)
	assert.Equal(t, api.StreamFilterStop, st, "third request on the same connection is over the cap")
	assert.Equal(t, []int{api.UpstreamOverFlowCode}, a.Hijacked())
	lr := rpcmeta.GetLocalReply(ctx)
	require.NotNil(t, lr)
	assert.Equal(t, uint32(100), lr.Native)
	assert.Contains(t, lr.Message, "max_in_flight")

	// Another connection has its own budget.
	b := &filtertest.Handler{Conn: &filtertest.Conn{ConnID: 2}}
	s4, st, _ := stream(t, fac, b)
	assert.Equal(t, api.StreamFilterContinue, st)

	// Finishing streams frees slots; the rejected one held none.
	s3.OnDestroy()
	n, _ := f.InFlight(1)
	assert.Equal(t, 2, n)
	s1.OnDestroy()
	_, st, _ = stream(t, fac, a)
	assert.Equal(t, api.StreamFilterContinue, st)
	assert.Equal(t, uint64(1), f.Rejected())
	s2.OnDestroy()
	s4.OnDestroy()
	n, conns := f.InFlight(2)
	assert.Zero(t, n)
	assert.Equal(t, 1, conns, "a connection whose count is back to zero is forgotten")
}

func TestConfigErrors(t *testing.T) {
	for _, bad := range []map[string]interface{}{{"max_in_flight": -1}, {"max_inflight": 3}, {"error": map[string]interface{}{"http_status": 7}}} {
		_, err := CreateFilterFactory(bad)
		require.Error(t, err, "%v", bad)
		assert.Contains(t, err.Error(), FilterName)
	}
	fac, err := CreateFilterFactory(map[string]interface{}{})
	require.NoError(t, err)
	assert.Equal(t, DefaultMaxInFlight, fac.(*Factory).cfg.MaxInFlight)
}
