package rpcmeta

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	_ "mosn.io/mosn/pkg/protocol" // registers x-mosn-host and x-mosn-path
	"mosn.io/mosn/pkg/types"
	"mosn.io/pkg/variable"
)

func TestRouteVarsSetHostAndPath(t *testing.T) {
	cases := []struct {
		name, service, method string
		host, path            string
	}{
		{"service and method", "org.example.Orders", "place", "org.example.Orders", "/org.example.Orders/place"},
		{"mixed case kept (MOSN lowercases for the domain lookup)", "Calculator", "add", "Calculator", "/Calculator/add"},
		{"no service: no host, path keeps its shape", "", "greet", "", "//greet"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := variable.NewVariableContext(context.Background())
			var rv RouteVars
			rv.Set(ctx, tc.service, tc.method)
			host, err := variable.GetString(ctx, types.VarHost)
			if tc.host == "" {
				assert.True(t, err != nil || host == "", "host %q", host)
			} else {
				require.NoError(t, err)
				assert.Equal(t, tc.host, host)
			}
			path, err := variable.GetString(ctx, types.VarPath)
			require.NoError(t, err)
			assert.Equal(t, tc.path, path)
		})
	}
}

func TestRouteVarsReusesRecentPaths(t *testing.T) {
	var rv RouteVars
	a := rv.path("S", "m")
	assert.Equal(t, "/S/m", a)
	assert.Equal(t, 0, int(testing.AllocsPerRun(100, func() { _ = rv.path("S", "m") })), "a repeated path allocates nothing")
	// Boundaries are compared, not just the concatenation.
	assert.Equal(t, "/S/m/x", rv.path("S", "m/x"))
	assert.Equal(t, "/S/m/x", rv.path("S/m", "x"))
	for i, m := range []string{"a", "b", "c", "d", "e"} {
		assert.Equal(t, "/S/"+m, rv.path("S", m), i)
	}
	assert.Equal(t, "/S/m", rv.path("S", "m"), "evicted entries are rebuilt")
}

func TestRouteVarsWithoutVariablesIsHarmless(t *testing.T) {
	var rv RouteVars
	rv.Set(context.Background(), "S", "m")
	rv.Set(nil, "S", "m") //nolint:staticcheck // a nil context is what some unit tests pass
}

func TestStockKey(t *testing.T) {
	for key, want := range map[string]string{"service": "S", "method": "m", "version": "", "group": ""} {
		v, ok := StockKey(stubRequest{}, key)
		assert.True(t, ok, key)
		assert.Equal(t, want, v, key)
	}
	_, ok := StockKey(stubRequest{}, "x-tag")
	assert.False(t, ok)
}

func TestConnTimeouts(t *testing.T) {
	stall, frame, err := ConnTimeouts{}.Parse("dubbo")
	require.NoError(t, err)
	assert.Equal(t, DefaultStallTimeout, stall)
	assert.Equal(t, DefaultFrameTimeout, frame)
	stall, frame, err = ConnTimeouts{StallTimeout: "0s", FrameTimeout: "2s"}.Parse("thrift")
	require.NoError(t, err)
	assert.Zero(t, stall, "0s turns the watch off")
	assert.Equal(t, 2*time.Second, frame)
	_, _, err = ConnTimeouts{FrameTimeout: "soon"}.Parse("thrift")
	assert.ErrorContains(t, err, `thrift config: frame_timeout "soon"`)
	_, _, err = ConnTimeouts{StallTimeout: "-1s"}.Parse("dubbo")
	assert.ErrorContains(t, err, `dubbo config: stall_timeout "-1s"`)
}
