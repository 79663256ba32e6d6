package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshproto/meshproto/internal/dubbopeer"
)

// TestPluginsOnly runs build/mosn-host, which has nothing of meshproto
// compiled in, with configs/plugin/sidecar.json: both codecs and three
// stream filters come from the .so files `make plugins` built.
func TestPluginsOnly(t *testing.T) {
	t.Parallel()
	host := peerBinary(t, "MESHPROTO_PLUGINS", "../mosn-host")
	pluginDir := filepath.Dir(peerBinary(t, "MESHPROTO_PLUGINS", "meshproto-codec-dubbo.so"))
	clients := thriftClients(t)
	server := peerBinary(t, "MESHPROTO_THRIFT", "server")

	p := newPorts(t, 20880, 20881, 20890, 9090, 9091, 9190, 34931)
	v1 := &provider{instance: "provider-v1", version: "1.0.0", addr: p.addr(20880)}
	v2 := &provider{instance: "provider-v2", version: "2.0.0", addr: p.addr(20890)}
	for _, pr := range []*provider{v1, v2} {
		pr.start(t)
		t.Cleanup(pr.stop)
	}
	startPeer(t, "thrift-v1", server, "-addr", p.addr(9090), "-transport", "header", "-multiplex", "-instance", "thrift-v1")
	startPeer(t, "thrift-v2", server, "-addr", p.addr(9190), "-transport", "header", "-multiplex", "-instance", "thrift-v2")

	cfg := loadConfig(t, "configs/plugin/sidecar.json", p)
	cfg = []byte(strings.ReplaceAll(string(cfg), `"build/plugins/`, `"`+pluginDir+`/`))
	proc := startMOSNBinary(t, host, "mosn-host", cfg, p.addr(20881), p.addr(9091))
	require.Contains(t, proc.log.String(), "load go plugin codec succeed")

	t.Run("dubbo routed by codec and filters from plugins", func(t *testing.T) {
		c, err := dubbopeer.Dial(ctxTimeout(t, 5*time.Second), p.addr(20881))
		require.NoError(t, err)
		defer c.Close()
		res := call(t, c, greetingService, "greet", []interface{}{"a"}, nil)
		require.Equal(t, dubbopeer.StatusOK, res.Status, res.ErrorMessage)
		assert.Equal(t, "provider-v1", res.Attachments["instance"])
		assert.Equal(t, "plugin", res.Attachments["seen-x-loaded-from"], "header mutation filter from a .so")
		res = call(t, c, greetingService, "greet", []interface{}{"a"}, map[string]string{"x-tag": "gray"})
		assert.Equal(t, "provider-v2", res.Attachments["instance"], "by attachment")
		res = call(t, c, greetingService, "echo", []interface{}{"e"}, nil)
		assert.Equal(t, "provider-v2", res.Attachments["instance"], "by method")
		res = call(t, c, orderService, "place", []interface{}{"b"}, nil)
		assert.Equal(t, byte(40), res.Status, "access control filter from a .so")
		assert.Contains(t, res.ErrorMessage, "no-orders")
	})
	t.Run("plugin codec reads its extends config", func(t *testing.T) {
		// configs/plugin sets max_frame_bytes 64 KiB: a 100 KB call closes
		// that connection.
		c, err := dubbopeer.Dial(ctxTimeout(t, 5*time.Second), p.addr(20881))
		require.NoError(t, err)
		defer c.Close()
		_, err = c.Call(ctxTimeout(t, 5*time.Second), &dubbopeer.Invocation{Service: greetingService, Method: "greet", Version: "1.0.0", Args: []interface{}{strings.Repeat("x", 100_000)}})
		require.Error(t, err)
		select {
		case <-c.Done():
		case <-time.After(3 * time.Second):
			t.Fatal("connection still open")
		}
	})
	for _, c := range clients {
		c := c
		t.Run("thrift/"+c.name+" routed by codec and filters from plugins", func(t *testing.T) {
			run := func(args ...string) []thriftLine {
				lines, _ := c.run(t, append([]string{"-addr", p.addr(9091), "-transport", "header", "-protocol", "compact", "-multiplex"}, args...)...)
				require.Len(t, lines, 1)
				return lines
			}
			l := run("-method", "greet", "-name", "p")
			require.True(t, l[0].OK, l[0].Error)
			assert.Equal(t, "thrift-v1", l[0].Instance)
			assert.Equal(t, "plugin", l[0].Headers["x-loaded-from"])
			l = run("-method", "greet", "-name", "p", "-header", "x-tag=gray")
			assert.Equal(t, "thrift-v2", l[0].Instance, "by header")
			l = run("-method", "echo", "-name", "p")
			assert.Equal(t, "thrift-v2", l[0].ReplyHeaders["x-served-by"], "by method")
			l = run("-service", "Calculator", "-method", "add", "-a", "1", "-b", "2")
			assert.Equal(t, "thrift-v2", l[0].ReplyHeaders["x-served-by"], "by service")
			l = run("-service", "Calculator", "-method", "divide", "-a", "1", "-b", "2")
			assert.Equal(t, "TApplicationException", l[0].Exception)
			assert.Equal(t, 1, l[0].AppExcType)
		})
	}
}

// TestMismatchedPluginIsReported builds the metadata filter plugin from a
// copy of this repository in another directory. Without -trimpath source
// paths are part of every compiled package, so it does not match the
// plugins built here: plugincheck must name the difference, and the plugin
// host must refuse to start with a clear message, not a stack dump.
func TestMismatchedPluginIsReported(t *testing.T) {
	t.Parallel()
	host := peerBinary(t, "MESHPROTO_PLUGINS", "../mosn-host")
	check := peerBinary(t, "MESHPROTO_PLUGINS", "../plugincheck")
	good := peerBinary(t, "MESHPROTO_PLUGINS", "meshproto-filter-metadata.so")

	src := t.TempDir()
	archive := exec.Command("sh", "-c", "git -C \"$0\" archive HEAD | tar -x -C \"$1\"", repoRoot(), src)
	out, err := archive.CombinedOutput()
	require.NoError(t, err, "%s", out)
	bad := filepath.Join(t.TempDir(), "meshproto-filter-metadata-elsewhere.so")
	build := exec.Command("go", "build", "-buildmode=plugin", "-o", bad, "./plugins/filter-metadata")
	build.Dir = src
	out, err = build.CombinedOutput()
	require.NoError(t, err, "%s", out)

	t.Run("plugincheck names the difference", func(t *testing.T) {
		out, err := exec.Command(check, "-mosn", host, good, bad).CombinedOutput()
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit, "%s", out)
		assert.Equal(t, 1, exit.ExitCode())
		assert.Contains(t, string(out), "OK  "+good)
		assert.Contains(t, string(out), "MISMATCH "+bad)
		assert.Contains(t, string(out), "main module directory")
	})
	t.Run("the plugin host refuses it with a clear message", func(t *testing.T) {
		p := newPorts(t, 20881, 34931)
		cfg := fmt.Sprintf(`{"servers": [{"default_log_path": "stdout", "listeners": [{"name": "l", "address": "%s", "bind_port": true,
			"filter_chains": [{"filters": [{"type": "proxy", "config": {"downstream_protocol": "Auto", "router_config_name": "r"}}]}],
			"stream_filters": [{"type": "meshproto_metadata", "go_plugin_config": {"so_path": %q}, "config": {}}]}]}]}`, p.addr(20881), bad)
		path := filepath.Join(t.TempDir(), "bad.json")
		require.NoError(t, os.WriteFile(path, []byte(cfg), 0o644))
		cmd := exec.Command(host, "start", "-c", path)
		done := make(chan struct{})
		var out []byte
		go func() { out, _ = cmd.CombinedOutput(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatal("mosn-host did not refuse the mismatched plugin")
		}
		assert.NotZero(t, cmd.ProcessState.ExitCode())
		assert.Contains(t, string(out), "plugins cannot load into this binary")
		assert.Contains(t, string(out), "main module directory")
		assert.NotContains(t, string(out), "goroutine ", "no stack dump")
	})
}

// TestSpecCodecFromPlugin: stock MOSN (build/mosn-host) with one .so for
// every frame-spec protocol: configs/plugin/spec-sidecar.json lists the
// ACME and Bolt specs, and the ACME listener is routed and filtered by
// plugin filters, with no protocol code compiled into anything.
func TestSpecCodecFromPlugin(t *testing.T) {
	t.Parallel()
	host := peerBinary(t, "MESHPROTO_PLUGINS", "../mosn-host")
	pluginDir := filepath.Dir(peerBinary(t, "MESHPROTO_PLUGINS", "meshproto-codec-spec.so"))
	p := newPorts(t, 12310, 12311, 34932)
	startPeer(t, "acme-s1", python, filepath.Join(repoRoot(), "examples", "acme", "server.py"), "--listen", p.addr(12311), "--name", "s1")
	cfg := loadConfig(t, "configs/plugin/spec-sidecar.json", p)
	cfg = []byte(strings.ReplaceAll(string(cfg), `"build/plugins/`, `"`+pluginDir+`/`))
	proc := startMOSNBinary(t, host, "mosn-host-spec", cfg, p.addr(12310))
	require.Contains(t, proc.log.String(), "load go plugin codec succeed")

	as := acmeClient(t, p.addr(12310), "--count", "20", "--pipeline", "10", "--body", "b{n}")
	require.Len(t, as, 20)
	for _, a := range as {
		require.Equal(t, 0, a.Status, a.Headers["error"])
		assert.True(t, *a.Own)
		assert.Equal(t, "plugin", a.Headers["req-x-loaded-from"], "header filter from a .so")
	}
	a := acmeClient(t, p.addr(12310), "--method", "secret")
	require.Len(t, a, 1)
	assert.Equal(t, 6, a[0].Status)
	assert.Equal(t, "meshproto: denied by a plugin filter", a[0].Headers["error"])
	// The codec's own options came from "extends": 64 KiB max frame.
	a = acmeClient(t, p.addr(12310), "--body", strings.Repeat("x", 70000))
	require.Len(t, a, 1)
	assert.Equal(t, "connection closed", a[0].Error)
}
