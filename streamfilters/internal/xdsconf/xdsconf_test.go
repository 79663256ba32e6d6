package xdsconf

import (
	"testing"

	udpatype "github.com/cncf/udpa/go/udpa/type/v1"
	"github.com/golang/protobuf/ptypes"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	"mosn.io/api"
)

func TestConvert(t *testing.T) {
	value, err := structpb.NewStruct(map[string]interface{}{"host": []interface{}{"{service}:{version}", "{service}"}, "timeout": "min"})
	require.NoError(t, err)
	want := map[string]interface{}{"host": []interface{}{"{service}:{version}", "{service}"}, "timeout": "min"}
	udpa, err := ptypes.MarshalAny(&udpatype.TypedStruct{TypeUrl: "meshproto_metadata", Value: value})
	require.NoError(t, err)
	plain, err := anypb.New(value)
	require.NoError(t, err)
	for name, a := range map[string]*anypb.Any{"udpa TypedStruct": udpa, "Struct": plain} {
		got, err := Convert(a)
		require.NoError(t, err, name)
		assert.Equal(t, want, got, name)
	}
	got, err := Convert(nil)
	require.NoError(t, err)
	assert.Empty(t, got)
	other, err := anypb.New(&structpb.Value{})
	require.NoError(t, err)
	_, err = Convert(other)
	assert.ErrorContains(t, err, "typed_config")

	Register("meshproto_xdsconf_test")
	got, err = api.HandleXDSConfig("meshproto_xdsconf_test", udpa)
	require.NoError(t, err)
	assert.Equal(t, want, got)
}
