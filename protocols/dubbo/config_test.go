package dubbo

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"mosn.io/api"
)

func TestUpstreamConnections(t *testing.T) {
	for _, tc := range []struct {
		setting string
		want    api.PoolMode
		err     string
	}{
		{"", api.Multiplex, ""},
		{"auto", api.Multiplex, ""},
		{"shared", api.Multiplex, ""},
		{"per_client", api.TCP, ""},
		{"pooled", 0, `upstream_connections "pooled"`},
	} {
		cfg, err := ParseConfig([]byte(`{"upstream_connections": "` + tc.setting + `"}`))
		if tc.err != "" {
			assert.ErrorContains(t, err, tc.err)
			continue
		}
		assert.NoError(t, err, tc.setting)
		assert.Equal(t, tc.want, NewProtocol(cfg).PoolMode(), tc.setting)
	}
}
