// Command filter-trace is the meshproto_trace stream filter
// (streamfilters/tracecontext) as a Go plugin for a MOSN built from this
// module: a listener's stream filter with "go_plugin_config": {"so_path": ...}
// makes MOSN call CreateFilterFactory.
package main

import (
	"mosn.io/api"

	"github.com/meshproto/meshproto/streamfilters/tracecontext"
)

// CreateFilterFactory is the symbol MOSN looks up (factory_method).
func CreateFilterFactory(conf map[string]interface{}) (api.StreamFilterChainFactory, error) {
	return tracecontext.CreateFilterFactory(conf)
}

func main() {}
