package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"mosn.io/api"
	v2 "mosn.io/mosn/pkg/config/v2"

	"github.com/meshproto/meshproto/internal/mosnapp"
	"github.com/meshproto/meshproto/protocols/dubbo"
	"github.com/meshproto/meshproto/protocols/thrift"
)

// TestShippedConfigsLoad parses every MOSN config in configs/ the way MOSN
// does and builds each stream filter and codec option it names, so a
// config example cannot rot without a failing test. The end-to-end tests
// also run them.
func TestShippedConfigsLoad(t *testing.T) {
	files, err := filepath.Glob("../../configs/*/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			require.NoError(t, err)
			var cfg v2.MOSNConfig
			require.NoError(t, json.Unmarshal(raw, &cfg))
			require.NotEmpty(t, cfg.Servers)
			for _, srv := range cfg.Servers {
				for _, ln := range srv.Listeners {
					for _, sf := range ln.StreamFilters {
						_, err := api.CreateStreamFilterChainFactory(sf.Type, sf.Config)
						assert.NoError(t, err, "listener %s stream filter %s", ln.Name, sf.Type)
					}
					for _, fc := range ln.FilterChains {
						for _, nf := range fc.Filters {
							if nf.Type != v2.DEFAULT_NETWORK_FILTER {
								continue
							}
							proto, _ := nf.Config["downstream_protocol"].(string)
							assert.Contains(t, []string{"dubbo", "thrift", "Auto"}, proto, "listener %s", ln.Name)
						}
					}
				}
			}
			for _, ext := range cfg.Extends {
				var err error
				switch ext.Type {
				case "meshproto_dubbo":
					_, err = dubbo.ParseConfig(ext.Config)
				case "meshproto_thrift":
					_, err = thrift.ParseConfig(ext.Config)
				default:
					t.Errorf("unknown extends type %q", ext.Type)
				}
				assert.NoError(t, err, ext.Type)
			}
		})
	}
}

func TestVersionLineNamesMOSNAndGo(t *testing.T) {
	line := mosnapp.VersionLine(mosnapp.Options{Name: "meshproto"})
	assert.Contains(t, line, "meshproto")
	assert.Contains(t, line, "go1.")
}
