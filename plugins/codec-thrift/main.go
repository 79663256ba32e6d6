// Command codec-thrift is the Thrift codec as a Go plugin for a MOSN built
// from this module (see plugins/mosn-host): MOSN loads it from
// "third_part_codec" and calls LoadCodec.
package main

import (
	"mosn.io/api"
	v2 "mosn.io/mosn/pkg/config/v2"
	"mosn.io/mosn/pkg/log"
	"mosn.io/mosn/pkg/protocol/xprotocol"

	"github.com/meshproto/meshproto/internal/logvars"
	"github.com/meshproto/meshproto/protocols/thrift"
)

// LoadCodec is the symbol MOSN looks up (loader_func_name). It also
// registers the per-kind upstream codecs (see thrift.XCodec.KindCodecs),
// which MOSN would not know to load, and the codec's options ("extends",
// read after codecs are loaded).
func LoadCodec() api.XProtocolCodec {
	logvars.Register() // access-log fields, before MOSN parses listeners
	c := &thrift.XCodec{}
	if err := v2.RegisterParseExtendConfig(thrift.ExtendType, c.ConfigureJSON); err != nil {
		log.StartLogger.Errorf("[meshproto] register %s config: %v", thrift.ExtendType, err)
	}
	for _, k := range c.KindCodecs() {
		if err := xprotocol.RegisterXProtocolCodec(k); err != nil {
			log.StartLogger.Errorf("[meshproto] register %s codec: %v", k.ProtocolName(), err)
		}
	}
	return c
}

func main() {}
