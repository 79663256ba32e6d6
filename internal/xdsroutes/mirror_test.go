package xdsroutes

import (
	"testing"

	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/stretchr/testify/assert"
	v2 "mosn.io/mosn/pkg/config/v2"
)

func names(h *hcmv3.HttpConnectionManager) []string {
	var out []string
	for _, f := range h.GetHttpFilters() {
		out = append(out, f.GetName())
	}
	return out
}

func TestMirrorFilterGoesBeforeTheRouter(t *testing.T) {
	cases := []struct {
		name    string
		filters []string
		changed bool
		want    []string
	}{
		{"istiod's chain", []string{"istio.metadata_exchange", "envoy.filters.http.fault", routerFilter}, true,
			[]string{"istio.metadata_exchange", "envoy.filters.http.fault", v2.Mirror, routerFilter}},
		{"already there", []string{v2.Mirror, routerFilter}, false, []string{v2.Mirror, routerFilter}},
		{"no router: not an HTTP route chain", []string{"envoy.filters.http.fault"}, false, []string{"envoy.filters.http.fault"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := &hcmv3.HttpConnectionManager{}
			for _, n := range tc.filters {
				h.HttpFilters = append(h.HttpFilters, &hcmv3.HttpFilter{Name: n})
			}
			assert.Equal(t, tc.changed, insertBeforeRouter(h))
			assert.Equal(t, tc.want, names(h))
		})
	}
}
