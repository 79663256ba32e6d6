package main

import (
	"encoding/json"
	"fmt"

	v2 "mosn.io/mosn/pkg/config/v2"
	"mosn.io/mosn/pkg/log"
	"mosn.io/mosn/pkg/protocol/xprotocol"
	xstream "mosn.io/mosn/pkg/stream/xprotocol"

	"github.com/meshproto/meshproto/protocols/dubbo"
	_ "github.com/meshproto/meshproto/streamfilters/metadata"
)

// dubboCodec is registered once; its configuration comes from the
// "extends" section ({"type": "meshproto_dubbo", "config": {...}}).
var dubboCodec = &dubbo.XCodec{}

// registerExtensions wires MOSN's xprotocol stream layer and registers the
// meshproto codecs. MOSN's own dubbo codec is not registered: it has the
// same protocol name.
func registerExtensions() {
	xprotocol.RegisterXProtocolAction(xstream.NewConnPool, xstream.NewStreamFactory, nil)
	if err := xprotocol.RegisterXProtocolCodec(dubboCodec); err != nil {
		log.StartLogger.Fatalf("[meshproto] register dubbo codec: %v", err)
	}
	if err := v2.RegisterParseExtendConfig("meshproto_dubbo", func(raw json.RawMessage) error {
		cfg, err := dubbo.ParseConfig(raw)
		if err != nil {
			return err
		}
		if err := dubboCodec.Configure(cfg); err != nil {
			return fmt.Errorf("meshproto_dubbo: %w", err)
		}
		log.StartLogger.Infof("[meshproto] dubbo codec config: %+v", cfg)
		return nil
	}); err != nil {
		log.StartLogger.Fatalf("[meshproto] register dubbo config: %v", err)
	}
}
