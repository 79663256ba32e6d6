package rdsready

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"mosn.io/api"
	v2 "mosn.io/mosn/pkg/config/v2"
	"mosn.io/mosn/pkg/router"
)

func rdsPush(t *testing.T, name string) {
	t.Helper()
	cfg := &v2.RouterConfiguration{
		RouterConfigurationConfig: v2.RouterConfigurationConfig{RouterConfigName: name},
		VirtualHosts: []v2.VirtualHost{{Name: "svc", Domains: []string{"*"}, Routers: []v2.Router{{
			RouterConfig: v2.RouterConfig{
				Match: v2.RouterMatch{Prefix: "/"},
				Route: v2.RouteAction{RouterActionConfig: v2.RouterActionConfig{ClusterName: "c"}},
			},
		}}}},
	}
	require.NoError(t, router.GetRoutersMangerInstance().AddOrUpdateRouters(cfg))
}

// TestWrapperBeforeRDS: the listener's proxy factory is made before the
// RDS push (Istio's LDS, then RDS). The wrapper a connection's proxy takes
// then is the one the push fills.
func TestWrapperBeforeRDS(t *testing.T) {
	Register()
	rm := router.GetRoutersMangerInstance()
	const name = "rdsready-test-20880"
	require.Nil(t, rm.GetRouterWrapperByName(name))

	_, err := api.CreateNetworkFilterChainFactory(v2.DEFAULT_NETWORK_FILTER, map[string]interface{}{
		"downstream_protocol": "Auto", "upstream_protocol": "Auto", "router_config_name": name,
	})
	require.NoError(t, err)
	held := rm.GetRouterWrapperByName(name) // what a connection accepted now keeps
	require.NotNil(t, held, "a wrapper exists once the listener's factory is made")
	assert.Nil(t, held.GetRouters(), "no routes until RDS")

	rdsPush(t, name)
	assert.NotNil(t, held.GetRouters(), "the RDS push filled the wrapper the early connection holds")
	assert.Same(t, held, rm.GetRouterWrapperByName(name))
}

// TestRDSFirst: routes that came first (static routers, or an RDS push
// before the listener) are kept as they are.
func TestRDSFirst(t *testing.T) {
	rm := router.GetRoutersMangerInstance()
	const name = "rdsready-test-first"
	rdsPush(t, name)
	before := rm.GetRouterWrapperByName(name)
	require.NotNil(t, before.GetRouters())
	Ensure(name)
	assert.Same(t, before, rm.GetRouterWrapperByName(name))
	assert.NotNil(t, before.GetRouters())
}

// TestNoName: a proxy without a route configuration name (a tcp_proxy
// style chain) is left alone, and a bad proxy config is still refused.
func TestNoName(t *testing.T) {
	Register()
	_, err := api.CreateNetworkFilterChainFactory(v2.DEFAULT_NETWORK_FILTER, map[string]interface{}{"downstream_protocol": "Auto"})
	require.NoError(t, err)
	_, err = api.CreateNetworkFilterChainFactory(v2.DEFAULT_NETWORK_FILTER, map[string]interface{}{"downstream_protocol": 7})
	assert.Error(t, err)
}
