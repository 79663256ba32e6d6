package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshproto/meshproto/internal/dubbopeer"
)

// Routes in the shapes MOSN's own examples and Istio write, with no
// meshproto filter in the chain: the codecs alone set MOSN's host (the
// service) and path ("/{service}/{method}").

// TestStockRouteShapes runs configs/stock/sidecar.json: one Auto listener,
// no stream filters, virtual hosts whose domains are the services, and
// "path", "prefix" and "regex" routes, with Dubbo and Thrift on the same
// listener.
func TestStockRouteShapes(t *testing.T) {
	t.Parallel()
	p := newPorts(t, 20880, 20890, 20881, 9090, 9190, 34951)
	startProvider(t, "provider-v1", "1.0.0", p.addr(20880))
	startProvider(t, "provider-v2", "2.0.0", p.addr(20890))
	startMOSN(t, "stock-sidecar", loadConfig(t, "configs/stock/sidecar.json", p), p.addr(20881))
	c, err := dubbopeer.Dial(ctxTimeout(t, 5e9), p.addr(20881), dubbopeer.WithDefaultTimeout(5e9))
	require.NoError(t, err)
	t.Cleanup(func() { assert.Zero(t, c.Mismatches()); _ = c.Close() })

	dubboCases := []struct {
		name, service, method string
		att                   map[string]string
		instance              string
		header                string // an attachment the route added, as the provider saw it
	}{
		{"prefix / is the default route", greetingService, "greet", nil, "provider-v1", ""},
		{"path match by service and method", greetingService, "sleep", nil, "provider-v2", ""},
		{"regex path match by method", greetingService, "echo", nil, "provider-v2", ""},
		{"prefix / with a header match", greetingService, "greet", map[string]string{"x-tag": "gray"}, "provider-v2", ""},
		{"prefix by service, route adds an attachment", orderService, "place", nil, "provider-v2", "by-prefix"},
		{"MOSN's any-RPC route on the stock service key", "org.meshproto.demo.Unlisted", "greet", nil, "provider-v1", ""},
	}
	for _, tc := range dubboCases {
		t.Run("dubbo/"+tc.name, func(t *testing.T) {
			for i := 0; i < 5; i++ {
				args := []interface{}{"x"}
				if tc.method == "sleep" {
					args = []interface{}{int32(1)}
				}
				res := call(t, c, tc.service, tc.method, args, tc.att)
				require.Equal(t, dubbopeer.StatusOK, res.Status, res.ErrorMessage)
				assert.Equal(t, tc.instance, res.Attachments["instance"])
				if tc.header != "" {
					assert.Equal(t, tc.header, res.Attachments["seen-x-mesh-route"])
				}
			}
		})
	}

	server := peerBinary(t, "MESHPROTO_THRIFT", "server")
	startPeer(t, "thrift-v1", server, "-addr", p.addr(9090), "-transport", "header", "-multiplex", "-instance", "thrift-v1")
	startPeer(t, "thrift-v2", server, "-addr", p.addr(9190), "-transport", "header", "-multiplex", "-instance", "thrift-v2")
	for _, cl := range thriftClients(t) {
		for _, tr := range []string{"framed", "header"} {
			base := []string{"-addr", p.addr(20881), "-transport", tr, "-protocol", "binary", "-multiplex", "-n", "3"}
			t.Run(fmt.Sprintf("thrift/%s/%s/prefix / is the default route", cl.name, tr), func(t *testing.T) {
				lines, err := cl.run(t, append(base, "-method", "greet")...)
				require.NoError(t, err)
				require.Len(t, lines, 3)
				for _, l := range lines {
					require.True(t, l.OK, l.Error)
					assert.Equal(t, "thrift-v1", l.Instance)
				}
			})
			t.Run(fmt.Sprintf("thrift/%s/%s/path match by method", cl.name, tr), func(t *testing.T) {
				lines, err := cl.run(t, append(base, "-method", "echo", "-name", "ping")...)
				require.NoError(t, err)
				require.Len(t, lines, 3)
				for _, l := range lines {
					require.True(t, l.OK, l.Error)
					assert.Equal(t, "ping", l.Message)
				}
			})
			t.Run(fmt.Sprintf("thrift/%s/%s/mixed-case service, lowercase domain, prefix by service", cl.name, tr), func(t *testing.T) {
				lines, err := cl.run(t, append(base, "-method", "add", "-a", "2", "-b", "5")...)
				require.NoError(t, err)
				require.Len(t, lines, 3)
				for _, l := range lines {
					require.True(t, l.OK, l.Error)
					require.NotNil(t, l.Result)
					assert.Equal(t, int64(7), *l.Result)
				}
			})
		}
	}
}

// TestMOSNExampleDubboConfigs runs MOSN v1.3.0's own Dubbo example
// (examples/codes/dubbo in its module: a client and a server sidecar whose
// only route is {"name": "service", "value": ".*"}) with meshproto's codec
// as "dubbo". Only the ports change.
func TestMOSNExampleDubboConfigs(t *testing.T) {
	t.Parallel()
	dir := mosnModuleDir(t)
	p := newPorts(t, 2045, 2046, 20880)
	startProvider(t, "example-provider", "1.0.0", p.addr(20880))
	startMOSN(t, "mosn-example-server", loadForeignConfig(t, filepath.Join(dir, "examples/codes/dubbo/server_config.json"), p), p.addr(2046))
	startMOSN(t, "mosn-example-client", loadForeignConfig(t, filepath.Join(dir, "examples/codes/dubbo/client_config.json"), p), p.addr(2045))
	c, err := dubbopeer.Dial(ctxTimeout(t, 5e9), p.addr(2045), dubbopeer.WithDefaultTimeout(5e9))
	require.NoError(t, err)
	t.Cleanup(func() { assert.Zero(t, c.Mismatches()); _ = c.Close() })
	for i := 0; i < 10; i++ {
		res := call(t, c, greetingService, "greet", []interface{}{fmt.Sprint("call ", i)}, map[string]string{"x-tag": "gray"})
		require.Equal(t, dubbopeer.StatusOK, res.Status, res.ErrorMessage)
		assert.Equal(t, fmt.Sprint("call ", i), res.Value)
		assert.Equal(t, "example-provider", res.Attachments["instance"])
		assert.Equal(t, "gray", res.Attachments["seen-x-tag"], "attachments pass both sidecars")
	}
	_, err = c.Heartbeat(ctxTimeout(t, 5e9))
	require.NoError(t, err, "heartbeat answered")
}

// mosnModuleDir is mosn.io/mosn's directory in the module cache.
func mosnModuleDir(t *testing.T) string {
	t.Helper()
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "mosn.io/mosn")
	cmd.Dir = repoRoot()
	out, err := cmd.Output()
	require.NoError(t, err, "go list -m mosn.io/mosn")
	return strings.TrimSpace(string(out))
}

// loadForeignConfig reads a config that is not ours (MOSN's examples) and
// moves each mapped port, whatever address it is written with, to loopback.
func loadForeignConfig(t *testing.T, path string, p ports) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	s := string(b)
	for from, to := range p {
		for _, host := range []string{"0.0.0.0", "127.0.0.1"} {
			s = strings.ReplaceAll(s, fmt.Sprintf(`"%s:%d"`, host, from), fmt.Sprintf(`"127.0.0.1:%d"`, to))
		}
	}
	return []byte(s)
}
