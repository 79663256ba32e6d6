// Package rdsready makes a listener's connections route as soon as its
// route configuration arrives, even when they were accepted before it.
//
// Why: MOSN's proxy looks up the routers wrapper named by its
// router_config_name once, when a connection's proxy is created, and keeps
// what it found. Under Istio the listener comes by LDS and its routes by a
// later RDS push; MOSN v1.3.0 adds the listener (which starts accepting)
// without a wrapper for the RDS name, so a connection accepted between the
// two pushes holds no wrapper and answers "no route" for as long as it
// lives, while newer connections route. Envoy avoids this by warming the
// listener until RDS arrives. Here, when MOSN makes a proxy filter
// factory (once per listener configuration, before the listener accepts),
// an empty wrapper is put in place for a name the routers manager does not
// know; the RDS push then fills that same wrapper (MOSN updates a known
// wrapper in place), and every connection sees the routes.
//
// A connection that calls before the routes come gets MOSN's usual "no
// route" answer, as before.
package rdsready

import (
	"mosn.io/api"
	v2 "mosn.io/mosn/pkg/config/v2"
	mosnproxy "mosn.io/mosn/pkg/filter/network/proxy"
	"mosn.io/mosn/pkg/router"
)

// Register replaces MOSN's "proxy" network filter factory with one that
// also makes sure its route configuration's wrapper exists. Call it
// before the configuration is loaded.
func Register() {
	api.RegisterNetwork(v2.DEFAULT_NETWORK_FILTER, createProxyFactory)
}

func createProxyFactory(conf map[string]interface{}) (api.NetworkFilterChainFactory, error) {
	f, err := mosnproxy.CreateProxyFactory(conf)
	if err != nil {
		return nil, err
	}
	if name, _ := conf["router_config_name"].(string); name != "" {
		Ensure(name)
	}
	return f, nil
}

// Ensure adds an empty routers wrapper named name unless one exists. An
// RDS push that races it wins either way: if it came first, the wrapper
// it made is kept; if it comes after, it updates this one.
func Ensure(name string) {
	rm := router.GetRoutersMangerInstance()
	if rm == nil || rm.GetRouterWrapperByName(name) != nil {
		return
	}
	cfg := &v2.RouterConfiguration{RouterConfigurationConfig: v2.RouterConfigurationConfig{RouterConfigName: name}}
	// MOSN stores a wrapper without routers for a configuration that has
	// no virtual hosts (its "RDS mode") and reports no error for it.
	_ = rm.AddOrUpdateRouters(cfg)
}
