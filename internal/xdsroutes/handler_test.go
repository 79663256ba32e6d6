package xdsroutes

import (
	"context"
	"testing"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"github.com/golang/protobuf/ptypes/duration"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"mosn.io/api"
	"mosn.io/mosn/pkg/protocol" // also registers MOSN's routing variables
	_ "mosn.io/mosn/pkg/proxy"  // registers the proxy timeout variable
	"mosn.io/mosn/pkg/router"
	"mosn.io/mosn/pkg/types"
	"mosn.io/pkg/variable"

	"github.com/meshproto/meshproto/protocols/rpcmeta"
)

// rpcHeaders is a meshproto request as the route handler sees it.
type rpcHeaders struct {
	protocol.CommonHeader
}

func newRPC(kv ...string) *rpcHeaders {
	h := &rpcHeaders{CommonHeader: protocol.CommonHeader{}}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func (h *rpcHeaders) RPCProtocol() string { return "dubbo" }
func (h *rpcHeaders) Service() string     { return "svc" }
func (h *rpcHeaders) Method() string      { return "greet" }
func (h *rpcHeaders) Version() string     { return "" }
func (h *rpcHeaders) Group() string       { return "" }

var _ rpcmeta.Request = (*rpcHeaders)(nil)

func TestMakeHandlerSkipsRoutesWhosePredicatesFail(t *testing.T) {
	rc := routeConfig(
		&routev3.Route{Name: "unless-pinned", Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}, Headers: []*routev3.HeaderMatcher{
			{Name: "x-pin", InvertMatch: true, HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: "v1"}}}},
		}}, Action: &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: "v2"}, Timeout: &duration.Duration{Nanos: int32(300 * time.Millisecond)}}}},
		&routev3.Route{Name: "default", Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}}, Action: toCluster("v1")},
	)
	cfg := NewConverter(t.Logf).Convert(rc)
	routers, err := router.NewRouters(cfg)
	require.NoError(t, err)

	cases := []struct {
		name    string
		headers *rpcHeaders
		cluster string
	}{
		{"no pin header: the inverted match holds", newRPC(), "v2"},
		{"another pin: holds", newRPC("x-pin", "v2"), "v2"},
		{"pinned: skipped, the next route matches", newRPC("x-pin", "v1"), "v1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := variable.NewVariableContext(context.Background())
			require.NoError(t, variable.SetString(ctx, types.VarHost, "svc"))
			require.NoError(t, variable.SetString(ctx, types.VarPath, "/svc/greet"))
			h := MakeHandler(ctx, tc.headers, routers)
			require.NotNil(t, h.Route())
			assert.Equal(t, tc.cluster, h.Route().RouteRule().ClusterName(ctx))
		})
	}

	t.Run("the route timeout wins over a longer client timeout", func(t *testing.T) {
		ctx := variable.NewVariableContext(context.Background())
		require.NoError(t, variable.SetString(ctx, types.VarHost, "svc"))
		require.NoError(t, variable.SetString(ctx, types.VarPath, "/svc/greet"))
		require.NoError(t, variable.SetString(ctx, types.VarProxyGlobalTimeout, "5000"))
		MakeHandler(ctx, newRPC(), routers)
		got, err := variable.GetString(ctx, types.VarProxyGlobalTimeout)
		require.NoError(t, err)
		assert.Equal(t, "300", got)
	})
	t.Run("no route: not available", func(t *testing.T) {
		ctx := variable.NewVariableContext(context.Background())
		require.NoError(t, variable.SetString(ctx, types.VarHost, "other"))
		h := MakeHandler(ctx, newRPC(), routers)
		assert.Nil(t, h.Route())
		_, status := h.IsAvailable(ctx, nil)
		assert.Equal(t, types.HandlerNotAvailable, status)
	})
}

var _ api.HeaderMap = (*rpcHeaders)(nil)
