// Package specreg registers spec-driven codecs (protocols/spec) with MOSN,
// for the static binary and for the codec-spec plugin alike. It runs once
// the config is loaded and before listeners are made: MOSN checks a
// listener's protocol when it creates the listener.
package specreg

import (
	"encoding/json"
	"fmt"

	"mosn.io/api"
	v2 "mosn.io/mosn/pkg/config/v2"
	"mosn.io/mosn/pkg/log"
	"mosn.io/mosn/pkg/protocol/xprotocol"

	"github.com/meshproto/meshproto/protocols/kit"
	"github.com/meshproto/meshproto/protocols/rpcmeta"
	"github.com/meshproto/meshproto/protocols/spec"
)

// Codecs compiles the specs a MOSN config lists and registers each codec's
// own "extends" options; the caller registers the codecs.
func Codecs(wires []*spec.Wire) ([]*kit.XCodec, error) {
	codecs := make([]*kit.XCodec, 0, len(wires))
	for _, w := range wires {
		c := w.NewXCodec()
		if err := v2.RegisterParseExtendConfig(c.ExtendType(), c.ConfigureJSON); err != nil {
			return nil, fmt.Errorf("register %s config: %w", c.ExtendType(), err)
		}
		rpcmeta.RegisterProtocolName(string(c.ProtocolName()))
		codecs = append(codecs, c)
	}
	// The spec list itself was read already; MOSN parses "extends" again
	// later and would call an unregistered type an error.
	if err := v2.RegisterParseExtendConfig(spec.ExtendType, func(json.RawMessage) error { return nil }); err != nil {
		return nil, fmt.Errorf("register %s config: %w", spec.ExtendType, err)
	}
	return codecs, nil
}

// Register compiles and registers every spec a MOSN config lists; a bad
// spec stops MOSN with an error that names the spec field.
func Register(cfg *v2.MOSNConfig, dir string) {
	wires, err := spec.FromExtends(cfg.Extends, dir)
	if err == nil {
		var codecs []*kit.XCodec
		if codecs, err = Codecs(wires); err == nil {
			for _, c := range codecs {
				if err = xprotocol.RegisterXProtocolCodec(c); err != nil {
					break
				}
				logLoaded(c)
			}
		}
	}
	if err != nil {
		log.StartLogger.Fatalf("[meshproto] frame specs: %v", err)
	}
}

func logLoaded(c api.XProtocolCodec) {
	log.StartLogger.Infof("[meshproto] protocol %s loaded from its frame spec", c.ProtocolName())
}
