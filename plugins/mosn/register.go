package main

import (
	"github.com/meshproto/meshproto/internal/logvars"
	"github.com/meshproto/meshproto/internal/xdsroutes"

	"encoding/json"
	"fmt"

	"mosn.io/api"
	v2 "mosn.io/mosn/pkg/config/v2"
	"mosn.io/mosn/pkg/log"
	"mosn.io/mosn/pkg/protocol/xprotocol"

	"github.com/meshproto/meshproto/protocols/bolt"
	"github.com/meshproto/meshproto/protocols/dubbo"
	"github.com/meshproto/meshproto/protocols/thrift"
	_ "github.com/meshproto/meshproto/streamfilters/accesscontrol"
	_ "github.com/meshproto/meshproto/streamfilters/connlimit"
	_ "github.com/meshproto/meshproto/streamfilters/faultinject"
	_ "github.com/meshproto/meshproto/streamfilters/headermutation"
	_ "github.com/meshproto/meshproto/streamfilters/metadata"
	_ "github.com/meshproto/meshproto/streamfilters/metrics"
	_ "github.com/meshproto/meshproto/streamfilters/ratelimit"
	_ "github.com/meshproto/meshproto/streamfilters/tracecontext"
)

// configurable is a meshproto codec whose options come from MOSN's
// "extends" section ({"type": "meshproto_dubbo", "config": {...}}).
type configurable interface {
	api.XProtocolCodec
	ConfigureJSON(json.RawMessage) error
}

func codecs() []struct {
	codec      configurable
	extendType string
} {
	return []struct {
		codec      configurable
		extendType string
	}{
		{&dubbo.XCodec{}, dubbo.ExtendType},
		{&thrift.XCodec{}, thrift.ExtendType},
		{bolt.NewXCodec(), bolt.NewXCodec().ExtendType()},
	}
}

// registerExtensions registers the meshproto codecs (the stream filters
// register themselves when imported). MOSN's own dubbo and bolt codecs are
// not registered: they have the same protocol names.
func registerExtensions() {
	logvars.Register()
	for _, c := range codecs() {
		if err := xprotocol.RegisterXProtocolCodec(c.codec); err != nil {
			log.StartLogger.Fatalf("[meshproto] register %s codec: %v", c.codec.ProtocolName(), err)
		}
		if k, ok := c.codec.(interface{ KindCodecs() []api.XProtocolCodec }); ok {
			// One upstream pool per transport x protocol (see thrift.KindCodecs).
			for _, kc := range k.KindCodecs() {
				if err := xprotocol.RegisterXProtocolCodec(kc); err != nil {
					log.StartLogger.Fatalf("[meshproto] register %s codec: %v", kc.ProtocolName(), err)
				}
			}
		}
		c := c
		if err := v2.RegisterParseExtendConfig(c.extendType, func(raw json.RawMessage) error {
			if err := c.codec.ConfigureJSON(raw); err != nil {
				return fmt.Errorf("%s: %w", c.extendType, err)
			}
			log.StartLogger.Infof("[meshproto] %s configured: %s", c.extendType, raw)
			return nil
		}); err != nil {
			log.StartLogger.Fatalf("[meshproto] register %s config: %v", c.extendType, err)
		}
	}
	// Routes from istiod as Istio means them (string_match, invert, ...).
	xdsroutes.Install()
}
