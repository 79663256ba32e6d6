package e2e

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshproto/meshproto/internal/dubbopeer"
)

const (
	traceID    = "4bf92f3577b34da6a3ce929d0e0e4736"
	clientSpan = "00f067aa0ba902b7"
)

// checkChild: v is a traceparent of traceID whose parent span is neither
// the client's (two sidecars each made a hop) nor malformed.
func checkChild(t *testing.T, v string) {
	t.Helper()
	parts := strings.Split(v, "-")
	require.Len(t, parts, 4, v)
	assert.Equal(t, "00", parts[0])
	assert.Equal(t, traceID, parts[1], "the caller's trace continues")
	assert.Len(t, parts[2], 16)
	assert.NotEqual(t, clientSpan, parts[2], "the server's parent is the last sidecar's span")
	assert.Equal(t, "01", parts[3], "the caller's sampling decision is kept")
}

// TestTraceContextDubbo: a hessian client's W3C context in a Dubbo
// attachment crosses the consumer and provider sidecars (configs/dubbo,
// meshproto_trace on both) and reaches the provider as the child context;
// a call without one gets a trace started at the consumer sidecar.
func TestTraceContextDubbo(t *testing.T) {
	t.Parallel()
	m := startMesh(t)
	c := m.dial(t)
	res := call(t, c, greetingService, "greet", []interface{}{"t"}, map[string]string{"traceparent": "00-" + traceID + "-" + clientSpan + "-01"})
	require.Equal(t, dubbopeer.StatusOK, res.Status, res.ErrorMessage)
	checkChild(t, res.Attachments["seen-traceparent"])
	res = call(t, c, greetingService, "greet", []interface{}{"t"}, nil)
	require.Equal(t, dubbopeer.StatusOK, res.Status, res.ErrorMessage)
	assert.Regexp(t, "^00-[0-9a-f]{32}-[0-9a-f]{16}-01$", res.Attachments["seen-traceparent"], "started at the consumer sidecar")
}

// TestTraceContextThrift: the same in THeader headers, with the Go and
// Python Thrift clients, in B3 multi-header form as well.
func TestTraceContextThrift(t *testing.T) {
	t.Parallel()
	clients := thriftClients(t)
	m := startThriftMesh(t)
	for _, c := range clients {
		lines, err := c.run(t, "-addr", m.consumer, "-transport", "header", "-protocol", "compact", "-multiplex", "-method", "greet", "-name", "trace",
			"-header", "traceparent=00-"+traceID+"-"+clientSpan+"-01")
		require.NoError(t, err)
		require.Len(t, lines, 1)
		require.True(t, lines[0].OK, lines[0].Error)
		checkChild(t, lines[0].Headers["traceparent"])

		lines, err = c.run(t, "-addr", m.consumer, "-transport", "header", "-protocol", "compact", "-multiplex", "-method", "greet", "-name", "trace",
			"-header", "x-b3-traceid="+traceID, "-header", "x-b3-spanid="+clientSpan, "-header", "x-b3-sampled=1")
		require.NoError(t, err)
		require.Len(t, lines, 1)
		require.True(t, lines[0].OK, lines[0].Error)
		h := lines[0].Headers
		assert.Equal(t, traceID, h["x-b3-traceid"], c.name)
		assert.NotEqual(t, clientSpan, h["x-b3-spanid"], c.name)
		assert.NotEqual(t, clientSpan, h["x-b3-parentspanid"], "%s: two hops: the parent is the consumer sidecar's span", c.name)
		assert.Equal(t, "1", h["x-b3-sampled"], c.name)
		checkChild(t, h["traceparent"])
	}
}
