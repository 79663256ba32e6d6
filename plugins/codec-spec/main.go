// Command codec-spec is the spec-driven codec (protocols/spec) as a Go
// plugin for a MOSN built from this module (plugins/mosn-host): one .so for
// every protocol written as a frame spec, so a new protocol needs no new
// plugin. MOSN's LoadCodec takes no arguments, so the plugin reads the
// "meshproto_spec" entries from the config file MOSN is starting with.
package main

import (
	"errors"

	"mosn.io/api"
	"mosn.io/mosn/pkg/configmanager"
	"mosn.io/mosn/pkg/log"
	"mosn.io/mosn/pkg/protocol/xprotocol"

	"github.com/meshproto/meshproto/internal/logvars"
	"github.com/meshproto/meshproto/internal/specreg"
	"github.com/meshproto/meshproto/protocols/spec"
)

// LoadCodec registers every spec the config lists and returns the first
// for MOSN to register (MOSN loads codecs before it reads "extends", so the
// specs' own options are registered in time).
func LoadCodec() api.XProtocolCodec {
	logvars.Register() // access-log fields, before MOSN parses listeners
	wires, err := spec.FromConfigFile(configmanager.GetConfigPath())
	if err == nil && len(wires) == 0 {
		err = errNoSpec
	}
	if err != nil {
		log.StartLogger.Fatalf("[meshproto] codec-spec: %v", err)
	}
	codecs, err := specreg.Codecs(wires)
	if err != nil {
		log.StartLogger.Fatalf("[meshproto] codec-spec: %v", err)
	}
	for _, c := range codecs[1:] {
		if err := xprotocol.RegisterXProtocolCodec(c); err != nil {
			log.StartLogger.Fatalf("[meshproto] codec-spec: register %s: %v", c.ProtocolName(), err)
		}
	}
	return codecs[0]
}

var errNoSpec = errors.New("the config lists no frame spec (an \"extends\" entry of type " + spec.ExtendType + ")")

func main() {}
