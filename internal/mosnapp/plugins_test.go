package mosnapp

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPluginPathsFromTheShippedConfig(t *testing.T) {
	paths, err := pluginPaths("../../configs/plugin/sidecar.json")
	require.NoError(t, err)
	assert.Equal(t, []string{
		"build/plugins/meshproto-codec-dubbo.so",
		"build/plugins/meshproto-codec-thrift.so",
		"build/plugins/meshproto-filter-metadata.so",
		"build/plugins/meshproto-filter-access.so",
		"build/plugins/meshproto-filter-headers.so",
	}, paths)
}

func TestCheckPluginsNamesAnUnreadablePlugin(t *testing.T) {
	dir := t.TempDir()
	notGo := filepath.Join(dir, "x.so")
	require.NoError(t, os.WriteFile(notGo, []byte("not an ELF file"), 0o644))
	cfg := filepath.Join(dir, "c.json")
	require.NoError(t, os.WriteFile(cfg, []byte(`{"third_part_codec": {"codecs": [{"enable": true, "type": "go-plugin", "path": "`+notGo+`"}]}}`), 0o644))
	err := checkPlugins(cfg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), notGo)
	assert.Contains(t, err.Error(), "make plugins")
	// A config without plugins is fine.
	require.NoError(t, os.WriteFile(cfg, []byte(`{"servers": []}`), 0o644))
	assert.NoError(t, checkPlugins(cfg))
}

func TestParseBytes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
		bad  bool
	}{
		{"67108864", 64 << 20, false},
		{"64MiB", 64 << 20, false},
		{"64M", 64 << 20, false},
		{" 512KiB ", 512 << 10, false},
		{"1GiB", 1 << 30, false},
		{"0", 0, false},
		{"-1", 0, true},
		{"64MB", 0, true},
		{"lots", 0, true},
		{"99999999999GiB", 0, true},
	} {
		got, err := ParseBytes(tc.in)
		if tc.bad {
			assert.Error(t, err, tc.in)
			continue
		}
		assert.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
	}
}
