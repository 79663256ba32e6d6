// Package xdsroutes is what meshproto's MOSN binary adds to MOSN v1.3.0's
// xDS client (istio/istio1106) so that routes from a current istiod mean
// what Istio meant, without patching MOSN:
//
//   - RDS responses are converted by Converter (MOSN's converter, then
//     corrected) instead of MOSN's converter alone, and applied to MOSN's
//     router manager; MOSN's bookkeeping (config dump, ACK) is kept;
//   - MakeHandler, registered as MOSN's default route handler, checks the
//     header conditions MOSN's matchers cannot express and enforces route
//     timeouts;
//   - LDS listeners get MOSN's mirror filter, which carries out a route's
//     mirror policy (Envoy's router does that itself);
//   - clusters whose TLS needs an SDS cluster the bootstrap does not have
//     (Istio's auto mTLS without an SDS server) stop the sidecar with one
//     clear message instead of a recovered panic and random failures.
//
// Install registers both with MOSN; it is called once at startup by the
// static binary. The plugin host cannot get it: it changes MOSN's xDS
// client, which a Go plugin cannot reach before MOSN starts.
package xdsroutes

import (
	"encoding/json"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"mosn.io/mosn/istio/istio1106/xds"
	"mosn.io/mosn/istio/istio1106/xds/conv"
	"mosn.io/mosn/pkg/istio"
	"mosn.io/mosn/pkg/log"
	"mosn.io/mosn/pkg/router"
)

// Install registers the route handler and wraps MOSN's ADS client.
func Install() {
	registerHandler()
	registerMirror()
	istio.RegisterParseAdsConfig(parseAdsConfig)
}

func parseAdsConfig(dynamic, static json.RawMessage) (istio.XdsStreamConfig, error) {
	cfg, err := xds.UnmarshalResources(dynamic, static)
	if err != nil || cfg == nil {
		return cfg, err
	}
	ads, ok := cfg.(*xds.AdsConfig)
	if !ok {
		return cfg, nil
	}
	return &streamConfig{AdsConfig: ads, conv: NewConverter(log.DefaultLogger.Warnf), sds: newSDSRequirement(static)}, nil
}

// streamConfig is MOSN's ADS config whose stream clients handle RDS here.
type streamConfig struct {
	*xds.AdsConfig
	conv *Converter
	sds  *sdsRequirement
}

func (c *streamConfig) CreateXdsStreamClient() (istio.XdsStreamClient, error) {
	cl, err := c.AdsConfig.CreateXdsStreamClient()
	if err != nil {
		return nil, err
	}
	return &streamClient{XdsStreamClient: cl, cfg: c}, nil
}

type streamClient struct {
	istio.XdsStreamClient
	cfg *streamConfig
}

// HandleResponse converts and applies RDS here and leaves every other type
// to MOSN.
func (s *streamClient) HandleResponse(resp interface{}) {
	d, ok := resp.(*discoveryv3.DiscoveryResponse)
	if !ok {
		s.XdsStreamClient.HandleResponse(resp)
		return
	}
	switch d.GetTypeUrl() {
	case resource.RouteType:
		s.handleRDS(d)
	case resource.ClusterType:
		s.cfg.sds.check(d)
		s.XdsStreamClient.HandleResponse(resp)
	case resource.ListenerType:
		addMirrorFilter(d)
		s.XdsStreamClient.HandleResponse(resp)
	default:
		s.XdsStreamClient.HandleResponse(resp)
	}
}

func (s *streamClient) handleRDS(d *discoveryv3.DiscoveryResponse) {
	routes := make([]*routev3.RouteConfiguration, 0, len(d.GetResources()))
	names := make([]string, 0, len(d.GetResources()))
	for _, res := range d.GetResources() {
		rc := &routev3.RouteConfiguration{}
		if err := res.UnmarshalTo(rc); err != nil {
			log.DefaultLogger.Errorf("[meshproto] [xds] RDS resource %s: %v", res.GetTypeUrl(), err)
			continue
		}
		routes = append(routes, rc)
		names = append(names, rc.GetName())
	}
	mgr := router.GetRoutersMangerInstance()
	for _, rc := range routes {
		cfg := s.cfg.conv.Convert(rc)
		if cfg == nil {
			continue
		}
		if err := mgr.AddOrUpdateRouters(cfg); err != nil {
			log.DefaultLogger.Errorf("[meshproto] [xds] routes %q: %v", rc.GetName(), err)
		}
	}
	conv.EnvoyConfigUpdateRoutes(routes) // MOSN's config dump
	log.DefaultLogger.Infof("[meshproto] [xds] applied %d route configurations from RDS (version %s)", len(routes), d.GetVersionInfo())
	// The ACK MOSN's own RDS handler sends.
	ack := &discoveryv3.DiscoveryRequest{
		VersionInfo:   d.GetVersionInfo(),
		ResourceNames: names,
		TypeUrl:       d.GetTypeUrl(),
		ResponseNonce: d.GetNonce(),
		Node:          s.cfg.Node(),
	}
	if err := s.Send(ack); err != nil {
		log.DefaultLogger.Errorf("[meshproto] [xds] RDS ack: %v", err)
	}
}
