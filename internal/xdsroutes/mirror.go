package xdsroutes

import (
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/golang/protobuf/ptypes/any"
	"google.golang.org/protobuf/types/known/anypb"
	"mosn.io/api"
	v2 "mosn.io/mosn/pkg/config/v2"
	"mosn.io/mosn/pkg/log"
)

// A VirtualService mirror becomes a route's request_mirror_policies, which
// Envoy's router carries out. In MOSN a route's mirror policy is carried
// out by the "mirror" stream filter, which istiod never puts in the HTTP
// connection manager. meshproto adds it, before the router, to every HTTP
// connection manager of an LDS response, so that Istio's mirror works
// with no EnvoyFilter. The filter does nothing for routes without a
// mirror policy.

const routerFilter = "envoy.filters.http.router"

func registerMirror() {
	// MOSN registers the filter but no xDS config for it: its config is
	// {"amplification": 1} by default, an empty typed_config gives that.
	api.RegisterXDSConfigHandler(v2.Mirror, func(*any.Any) (map[string]interface{}, error) {
		return map[string]interface{}{}, nil
	})
}

// addMirrorFilter rewrites the listeners of an LDS response in place.
func addMirrorFilter(d *discoveryv3.DiscoveryResponse) {
	for i, res := range d.GetResources() {
		l := &listenerv3.Listener{}
		if res.UnmarshalTo(l) != nil {
			continue // MOSN's handler reports it
		}
		changed := false
		for _, fc := range l.GetFilterChains() {
			for _, f := range fc.GetFilters() {
				if f.GetTypedConfig() == nil {
					continue
				}
				hcm := &hcmv3.HttpConnectionManager{}
				if f.GetTypedConfig().UnmarshalTo(hcm) != nil {
					continue
				}
				if !insertBeforeRouter(hcm) {
					continue
				}
				tc, err := anypb.New(hcm)
				if err != nil {
					log.DefaultLogger.Errorf("[meshproto] [xds] listener %s: %v", l.GetName(), err)
					continue
				}
				f.ConfigType = &listenerv3.Filter_TypedConfig{TypedConfig: tc}
				changed = true
			}
		}
		if !changed {
			continue
		}
		a, err := anypb.New(l)
		if err != nil {
			log.DefaultLogger.Errorf("[meshproto] [xds] listener %s: %v", l.GetName(), err)
			continue
		}
		d.Resources[i] = a
	}
}

func insertBeforeRouter(hcm *hcmv3.HttpConnectionManager) bool {
	filters := hcm.GetHttpFilters()
	for _, f := range filters {
		if f.GetName() == v2.Mirror {
			return false
		}
	}
	for i, f := range filters {
		if f.GetName() == routerFilter {
			out := make([]*hcmv3.HttpFilter, 0, len(filters)+1)
			out = append(out, filters[:i]...)
			out = append(out, &hcmv3.HttpFilter{Name: v2.Mirror})
			hcm.HttpFilters = append(out, filters[i:]...)
			return true
		}
	}
	return false
}
