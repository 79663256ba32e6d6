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
	"github.com/meshproto/meshproto/protocols/kit"
	"github.com/meshproto/meshproto/protocols/rpcmeta"
	"github.com/meshproto/meshproto/protocols/spec"
)

// TestShippedConfigsLoad parses every MOSN config in configs/ the way MOSN
// does and builds each stream filter and codec option it names, so a
// config example cannot rot without a failing test. The end-to-end tests
// also run them.
func TestShippedConfigsLoad(t *testing.T) {
	files, err := filepath.Glob("../../configs/*/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	// Every protocol and extends type the binary registers, so a new
	// codec's shipped config is checked without touching this test.
	protocols := []string{"Auto"}
	for _, c := range codecs() {
		protocols = append(protocols, string(c.codec.ProtocolName()))
	}
	for _, file := range files {
		switch filepath.Base(filepath.Dir(file)) {
		case "specs", "grafana":
			continue // frame specs (loaded by the configs that list them), dashboards
		}
		t.Run(filepath.Base(file), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			require.NoError(t, err)
			var cfg v2.MOSNConfig
			require.NoError(t, json.Unmarshal(raw, &cfg))
			require.NotEmpty(t, cfg.Servers)
			// Protocols the config defines itself, as frame specs.
			wires, err := spec.FromExtends(cfg.Extends, filepath.Dir(file))
			require.NoError(t, err)
			protocols := protocols
			specTypes := map[string]*kit.XCodec{spec.ExtendType: nil}
			for _, w := range wires {
				c := w.NewXCodec()
				protocols = append(protocols, string(c.ProtocolName()))
				specTypes[c.ExtendType()] = c
				rpcmeta.RegisterProtocolName(string(c.ProtocolName()))
			}
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
							assert.Contains(t, protocols, proto, "listener %s", ln.Name)
						}
					}
				}
			}
			for _, ext := range cfg.Extends {
				known := false
				for _, c := range codecs() { // fresh codecs: configuring one changes only it
					if c.extendType == ext.Type {
						known = true
						assert.NoError(t, c.codec.ConfigureJSON(ext.Config), ext.Type)
					}
				}
				if c, ok := specTypes[ext.Type]; ok {
					known = true
					if c != nil {
						assert.NoError(t, c.ConfigureJSON(ext.Config), ext.Type)
					}
				}
				assert.True(t, known, "unknown extends type %q", ext.Type)
			}
		})
	}
}

func TestVersionLineNamesMOSNAndGo(t *testing.T) {
	line := mosnapp.VersionLine(mosnapp.Options{Name: "meshproto"})
	assert.Contains(t, line, "meshproto")
	assert.Contains(t, line, "go1.")
}
