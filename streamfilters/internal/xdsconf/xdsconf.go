// Package xdsconf lets Istio configure meshproto's stream filters. MOSN
// turns an HTTP connection manager's http_filters into stream filters, but
// only for filter names it knows or for which a config handler is
// registered (api.RegisterXDSConfigHandler). Register adds one for a
// meshproto filter, so an EnvoyFilter can insert it before the router:
//
//	name: meshproto_metadata
//	typed_config:
//	  "@type": type.googleapis.com/udpa.type.v1.TypedStruct
//	  value: {host: "{service}"}
//
// The TypedStruct's value (or a plain google.protobuf.Struct) is the
// filter's JSON config, exactly as in MOSN JSON.
package xdsconf

import (
	"fmt"

	udpatype "github.com/cncf/udpa/go/udpa/type/v1"
	"github.com/golang/protobuf/ptypes"
	"github.com/golang/protobuf/ptypes/any"
	"google.golang.org/protobuf/types/known/structpb"
	"mosn.io/api"
)

// Type URLs accepted as a filter's typed_config.
const (
	TypeUDPATypedStruct = "type.googleapis.com/udpa.type.v1.TypedStruct"
	TypeStruct          = "type.googleapis.com/google.protobuf.Struct"
)

// Register makes filterType configurable from xDS.
func Register(filterType string) {
	api.RegisterXDSConfigHandler(filterType, Convert)
}

// Convert turns a filter's typed_config into its JSON config map. No
// typed_config means the filter's defaults.
func Convert(s *any.Any) (map[string]interface{}, error) {
	if s == nil {
		return map[string]interface{}{}, nil
	}
	var value *structpb.Struct
	switch s.GetTypeUrl() {
	case TypeUDPATypedStruct:
		ts := &udpatype.TypedStruct{}
		if err := ptypes.UnmarshalAny(s, ts); err != nil {
			return nil, fmt.Errorf("decoding %s: %w", s.GetTypeUrl(), err)
		}
		value = ts.GetValue()
	case TypeStruct:
		value = &structpb.Struct{}
		if err := ptypes.UnmarshalAny(s, value); err != nil {
			return nil, fmt.Errorf("decoding %s: %w", s.GetTypeUrl(), err)
		}
	default:
		return nil, fmt.Errorf("typed_config %q: want %s or %s", s.GetTypeUrl(), TypeUDPATypedStruct, TypeStruct)
	}
	if value == nil {
		return map[string]interface{}{}, nil
	}
	return value.AsMap(), nil
}
