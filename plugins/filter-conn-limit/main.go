// Command filter-conn-limit is the meshproto_conn_limit stream filter
// (streamfilters/connlimit) as a Go plugin for a MOSN built from this module:
// a listener's stream filter with "go_plugin_config": {"so_path": ...}
// makes MOSN call CreateFilterFactory.
package main

import (
	"mosn.io/api"

	"github.com/meshproto/meshproto/streamfilters/connlimit"
)

// CreateFilterFactory is the symbol MOSN looks up (factory_method). It must
// be a function, not a variable holding one: MOSN type-asserts the symbol.
func CreateFilterFactory(conf map[string]interface{}) (api.StreamFilterChainFactory, error) {
	return connlimit.CreateFilterFactory(conf)
}

func main() {}
