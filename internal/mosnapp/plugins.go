package mosnapp

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/meshproto/meshproto/internal/buildcheck"
)

// checkPlugins compares every Go plugin the config names (third_part_codec
// and stream filters' go_plugin_config) with this binary before MOSN loads
// any of them. A plugin built from another toolchain, module graph or
// flags would otherwise fail inside plugin.Open with Go's bare "plugin was
// built with a different version of package ..." (or load one plugin and
// not the next); this names what differs and how to fix it.
func checkPlugins(configPath string) error {
	paths, err := pluginPaths(configPath)
	if err != nil || len(paths) == 0 {
		return nil // MOSN itself reports an unreadable config
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("checking plugins: %w", err)
	}
	host, err := buildcheck.Read(self)
	if err != nil {
		return fmt.Errorf("checking plugins: reading this binary: %w", err)
	}
	var problems []string
	for _, p := range paths {
		info, err := buildcheck.Read(p)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", p, err))
			continue
		}
		diffs := buildcheck.Compare(host, info)
		if !buildcheck.HasFailures(diffs) {
			continue
		}
		lines := []string{p + " does not match this MOSN binary:"}
		for _, d := range diffs {
			if !d.IsNote() {
				lines = append(lines, "    "+d.String())
			}
		}
		problems = append(problems, strings.Join(lines, "\n"))
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("plugins cannot load into this binary:\n  %s\nfix: build MOSN and the plugins together, from the same go.mod with the same toolchain and flags (make plugins)",
		strings.Join(problems, "\n  "))
}

// pluginPaths lists the .so files a MOSN config loads, once each.
func pluginPaths(configPath string) ([]string, error) {
	raw, err := os.ReadFile(configPath)
	if err != nil {
		return nil, err
	}
	var cfg struct {
		ThirdPartCodec struct {
			Codecs []struct {
				Enable bool   `json:"enable"`
				Type   string `json:"type"`
				Path   string `json:"path"`
			} `json:"codecs"`
		} `json:"third_part_codec"`
		Servers []struct {
			Listeners []struct {
				StreamFilters []struct {
					GoPluginConfig *struct {
						SoPath string `json:"so_path"`
					} `json:"go_plugin_config"`
				} `json:"stream_filters"`
			} `json:"listeners"`
		} `json:"servers"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	add := func(p string) {
		if p != "" && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, c := range cfg.ThirdPartCodec.Codecs {
		if c.Enable && c.Type == "go-plugin" {
			add(c.Path)
		}
	}
	for _, s := range cfg.Servers {
		for _, l := range s.Listeners {
			for _, f := range l.StreamFilters {
				if f.GoPluginConfig != nil {
					add(f.GoPluginConfig.SoPath)
				}
			}
		}
	}
	return out, nil
}
