package filterconf

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDecode(t *testing.T) {
	var c struct {
		QPS  float64  `json:"qps"`
		Keys []string `json:"keys"`
	}
	require.NoError(t, Decode("f", map[string]interface{}{"qps": 2.5, "keys": []interface{}{"a"}}, &c))
	assert.Equal(t, 2.5, c.QPS)
	assert.Equal(t, []string{"a"}, c.Keys)

	err := Decode("meshproto_x", map[string]interface{}{"qsp": 1}, &c)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `meshproto_x: config: json: unknown field "qsp"`)
	err = Decode("meshproto_x", map[string]interface{}{"qps": "fast"}, &c)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "meshproto_x: config:")
}
