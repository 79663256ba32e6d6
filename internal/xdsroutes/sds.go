package xdsroutes

import (
	"encoding/json"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
)

// checkBootstrapSDS and checkClusterSDS: see sds handling below.
func checkBootstrapSDS(static json.RawMessage) {}

func (c *streamConfig) checkClusterSDS(d *discoveryv3.DiscoveryResponse) {}
