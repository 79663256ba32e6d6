package streamctx

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"mosn.io/api"
	"mosn.io/mosn/pkg/types"
	"mosn.io/pkg/variable"

	// The packages that register the variables, as in the binary.
	_ "mosn.io/mosn/pkg/proxy"
	_ "mosn.io/mosn/pkg/router"
)

// TestDefaultsMeanUnset: every default is registered and indexed (else it
// would be set nowhere and cost nothing less), and reads as MOSN reads
// the variable unset.
func TestDefaultsMeanUnset(t *testing.T) {
	conn := variable.NewVariableContext(context.Background())
	SetDefaults(conn)
	req := variable.NewVariableContext(conn) // a request's context: a copy

	for _, d := range defaults {
		t.Run(d.name, func(t *testing.T) {
			v, err := variable.Get(req, d.name)
			require.NoError(t, err, "set once per connection, found in each request")
			assert.Equal(t, d.value, v)
		})
	}

	disable, _ := variable.Get(req, types.VarProxyDisableRetry)
	b, ok := disable.(bool)
	assert.True(t, ok && !b, "retries stay enabled")
	meta, _ := variable.Get(req, types.VarRouterMeta)
	_, ok = meta.(map[string]string)
	assert.False(t, ok, "no router metadata")
	proto, _ := variable.Get(req, types.VarUpStreamProtocol)
	_, ok = proto.(api.ProtocolName)
	assert.False(t, ok, "no upstream protocol override")

	// A request may still set its own: the codec's client timeout.
	require.NoError(t, variable.SetString(req, types.VarProxyGlobalTimeout, "300"))
	v, err := variable.GetString(req, types.VarProxyGlobalTimeout)
	require.NoError(t, err)
	assert.Equal(t, "300", v)
	other := variable.NewVariableContext(conn)
	v, _ = variable.GetString(other, types.VarProxyGlobalTimeout)
	assert.Equal(t, "", v, "one request's value stays in that request")
}

func TestSetDefaultsWithoutVariables(t *testing.T) {
	assert.NotPanics(t, func() {
		SetDefaults(context.Background())
		SetDefaults(nil) //nolint:staticcheck // a nil context is tolerated
	})
}
