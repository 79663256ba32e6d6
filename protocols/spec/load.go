package spec

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	v2 "mosn.io/mosn/pkg/config/v2"
)

// ExtendType is the "extends" entry that lists frame specs:
//
//	{"type": "meshproto_spec", "config": {"protocols": [
//	    {"file": "acme.json"}, {"spec": {"name": "...", ...}}]}}
//
// A relative file is read from the MOSN config file's directory. Each
// protocol's own options (max_frame_bytes, worker_pool, ...) are then an
// "extends" entry of type "meshproto_<name>", as for the compiled codecs.
const ExtendType = "meshproto_spec"

// LoadConfig is the config of the ExtendType entry.
type LoadConfig struct {
	Protocols []Entry `json:"protocols"`
}

// Entry is one spec, in a file or inline.
type Entry struct {
	File string          `json:"file,omitempty"`
	Spec json.RawMessage `json:"spec,omitempty"`
}

// FromExtends compiles the specs the ExtendType entries of a MOSN config
// list; dir resolves relative files. Two specs may not share a name.
func FromExtends(extends []v2.ExtendConfig, dir string) ([]*Wire, error) {
	var out []*Wire
	seen := map[string]bool{}
	for _, ext := range extends {
		if ext.Type != ExtendType {
			continue
		}
		var lc LoadConfig
		if err := decodeStrict(ext.Config, &lc); err != nil {
			return nil, fmt.Errorf("%s config: %w", ExtendType, err)
		}
		for i, e := range lc.Protocols {
			raw := []byte(e.Spec)
			if (e.File == "") == (len(raw) == 0) {
				return nil, fmt.Errorf("%s config: protocols[%d]: needs exactly one of file, spec", ExtendType, i)
			}
			if e.File != "" {
				path := e.File
				if !filepath.IsAbs(path) {
					path = filepath.Join(dir, path)
				}
				var err error
				if raw, err = os.ReadFile(path); err != nil {
					return nil, fmt.Errorf("%s config: protocols[%d]: %w", ExtendType, i, err)
				}
			}
			w, err := Parse(raw)
			if err != nil {
				return nil, fmt.Errorf("%s config: protocols[%d]: %w", ExtendType, i, err)
			}
			if seen[w.name] {
				return nil, fmt.Errorf("%s config: protocols[%d]: a second spec named %q", ExtendType, i, w.name)
			}
			seen[w.name] = true
			out = append(out, w)
		}
	}
	return out, nil
}

// FromConfigFile compiles the specs a MOSN config file lists.
func FromConfigFile(path string) ([]*Wire, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var cfg struct {
		Extends []v2.ExtendConfig `json:"extends"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return FromExtends(cfg.Extends, filepath.Dir(path))
}
