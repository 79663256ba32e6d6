package e2e

import (
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshproto/meshproto/internal/dubbopeer"
	"github.com/meshproto/meshproto/internal/zktest"
)

// dubbogoRegistered is a dubbo-go v3.0.5 provider behind its own provider
// sidecar, registered in ZooKeeper with the sidecar's address
// (DUBBO_IP_TO_REGISTRY / DUBBO_PORT_TO_REGISTRY, unmodified dubbo-go).
type dubbogoRegistered struct {
	instance, version string
	cmd               *exec.Cmd
}

func startRegisteredDubbogo(t *testing.T, zkAddr, instance, version string, flags ...string) *dubbogoRegistered {
	t.Helper()
	bin := peerBinary(t, "MESHPROTO_DUBBOGO", "provider")
	p := newPorts(t, 20880, 20882, 34901, 34902)
	startMOSN(t, instance+"-sidecar", loadConfig(t, "configs/dubbo/provider-sidecar.json", p), p.addr(20882))
	port := strings.TrimPrefix(p.addr(20880), "127.0.0.1:")
	sidecarPort := strings.TrimPrefix(p.addr(20882), "127.0.0.1:")
	args := append([]string{"-port", port, "-instance", instance, "-version", version, "-registry", zkAddr, "-registry-timeout", "4s"}, flags...)
	cmd := startPeerEnv(t, instance, bin, []string{"DUBBO_IP_TO_REGISTRY=127.0.0.1", "DUBBO_PORT_TO_REGISTRY=" + sidecarPort}, args...)
	return &dubbogoRegistered{instance: instance, version: version, cmd: cmd}
}

// servedBy calls fail(): the dubbo-go provider answers every such call
// with an exception naming itself ("provider <instance> failed on
// purpose"), which says who served it without a POJO argument. Anything
// else is a failed call ("" and the reason).
var servedRe = regexp.MustCompile(`provider (\S+) failed on purpose`)

func servedBy(t *testing.T, c *dubbopeer.Client, version string, att map[string]string) (string, string) {
	res, err := c.Call(ctxTimeout(t, 5*time.Second), &dubbopeer.Invocation{
		Service: "org.meshproto.demo.UserProvider", Method: "fail", Version: version,
		ParamTypes: "Ljava/lang/String;", Args: []interface{}{"x"}, Attachments: att,
	})
	if err != nil {
		return "", err.Error()
	}
	if m := servedRe.FindStringSubmatch(res.Exception); m != nil {
		return m[1], ""
	}
	return "", fmt.Sprintf("status %d: %s%s", res.Status, res.ErrorMessage, res.Exception)
}

// TestRegistryAdapterDubboGo: real dubbo-go providers register in a real
// ZooKeeper with their sidecars' addresses; a consumer calls its own
// sidecar, configured by the adapter alone. Version routing, the 100:300
// weighted split, tag routing, a provider kill -9'd (no call fails: the
// sidecar fails over, as Dubbo's failover cluster does), a new provider
// taking traffic, and ZooKeeper down for 10 s (no call fails; later
// changes arrive).
func TestRegistryAdapterDubboGo(t *testing.T) {
	t.Parallel()
	zks := zktest.Start(t)
	v1 := startRegisteredDubbogo(t, zks.Addr(), "dubbogo-v1", "1.0.0", "-weight", "100")
	startRegisteredDubbogo(t, zks.Addr(), "dubbogo-v1-heavy", "1.0.0", "-weight", "300")
	startRegisteredDubbogo(t, zks.Addr(), "dubbogo-v2", "2.0.0")
	startRegisteredDubbogo(t, zks.Addr(), "dubbogo-gray", "1.0.0", "-tag", "gray")

	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	a := startAdapter(t, zks.Addr(), listen)
	startRegistrySidecar(t, "registry-dubbogo-consumer-sidecar", a, listen)
	c, err := dubbopeer.Dial(ctxTimeout(t, 5*time.Second), listen, dubbopeer.WithDefaultTimeout(5*time.Second))
	require.NoError(t, err)
	t.Cleanup(func() {
		assert.Zero(t, c.Mismatches())
		_ = c.Close()
	})
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		who, why := servedBy(t, c, "2.0.0", nil)
		if who == "dubbogo-v2" {
			break
		}
		require.True(t, time.Now().Before(deadline), "first push not applied after 20 s: %s", why)
	}

	t.Run("version and tag routing", func(t *testing.T) {
		for i := 0; i < 10; i++ {
			who, why := servedBy(t, c, "1.0.0", nil)
			assert.Contains(t, []string{"dubbogo-v1", "dubbogo-v1-heavy"}, who, why)
			who, why = servedBy(t, c, "2.0.0", nil)
			assert.Equal(t, "dubbogo-v2", who, why)
			who, why = servedBy(t, c, "1.0.0", map[string]string{"dubbo.tag": "gray"})
			assert.Equal(t, "dubbogo-gray", who, why)
		}
	})

	t.Run("weighted split 100:300", func(t *testing.T) {
		counts := tally(200, func() (string, string) { return servedBy(t, c, "1.0.0", nil) })
		t.Logf("version 1.0.0 over 200 calls: %v (weights 100 and 300)", counts)
		assert.Equal(t, 200, counts["dubbogo-v1"]+counts["dubbogo-v1-heavy"], "%v", counts)
		assert.InDelta(t, 150, counts["dubbogo-v1-heavy"], 20, "%v", counts)
	})

	t.Run("kill -9, then a new provider", func(t *testing.T) {

		type result struct {
			at       time.Duration
			who, why string
		}
		var mu sync.Mutex
		var results []result
		stop := make(chan struct{})
		done := make(chan struct{})
		start := time.Now()
		go func() {
			defer close(done)
			for {
				select {
				case <-stop:
					return
				default:
				}
				who, why := servedBy(t, c, "1.0.0", nil)
				mu.Lock()
				results = append(results, result{time.Since(start), who, why})
				mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		}()
		time.Sleep(500 * time.Millisecond)
		killedAt := time.Since(start)
		require.NoError(t, v1.cmd.Process.Signal(syscall.SIGKILL))
		// The session (4 s) expires, the adapter pushes: then every
		// call lands on v1-heavy. Then a new provider joins.
		time.Sleep(7 * time.Second)
		joinedAt := time.Since(start)
		startRegisteredDubbogo(t, zks.Addr(), "dubbogo-v1b", "1.0.0", "-weight", "300")
		time.Sleep(3 * time.Second)
		close(stop)
		<-done
		mu.Lock()
		defer mu.Unlock()
		var afterKill int
		var failures []string
		var lastV1, firstV1b time.Duration
		for _, r := range results {
			if r.at > killedAt {
				afterKill++
				if r.who != "dubbogo-v1-heavy" && r.who != "dubbogo-v1b" {
					failures = append(failures, fmt.Sprintf("%s after the kill: %q %s", (r.at-killedAt).Round(time.Millisecond), r.who, r.why))
				}
			}
			if r.who == "dubbogo-v1" {
				lastV1 = r.at
			}
			if r.who == "dubbogo-v1b" && firstV1b == 0 {
				firstV1b = r.at
			}
		}
		require.NotZero(t, firstV1b, "the new provider took no traffic")
		t.Logf("dubbogo-v1b started at %s (ready = registered): first call served %s later", joinedAt.Round(time.Millisecond), (firstV1b - joinedAt).Round(time.Millisecond))
		t.Logf("kill -9 of dubbogo-v1 at %s: %d of %d calls after it failed; v1 served its last call %s before it",
			killedAt.Round(time.Millisecond), len(failures), afterKill, (killedAt - lastV1).Round(time.Millisecond))
		// Until its session expires (4 s) the killed provider stays
		// routed; the adapter's default retries (2, as Dubbo's failover
		// cluster) send every call that meets it to the live provider.
		assert.Empty(t, failures, "every call after the kill served by a live provider (failover)")
		assert.Greater(t, afterKill, 100)
	})

	t.Run("ZooKeeper down for 10 s", func(t *testing.T) {
		zks.Stop()
		deadline := time.Now().Add(10 * time.Second)
		calls := 0
		for time.Now().Before(deadline) {
			who, why := servedBy(t, c, "2.0.0", nil)
			require.Equal(t, "dubbogo-v2", who, "call %d with ZooKeeper down: %s", calls, why)
			calls++
			time.Sleep(20 * time.Millisecond)
		}
		t.Logf("%d calls with ZooKeeper down, none failed", calls)
		assert.Equal(t, "0", a.metric(t, "meshproto_registry_zookeeper_connected"))
		zks.Restart()
		zks.Client(t) // ZooKeeper answers "imok" a moment before it accepts sessions
		// A change made after the restart arrives.
		startRegisteredDubbogo(t, zks.Addr(), "dubbogo-v3", "3.0.0")
		require.Eventually(t, func() bool { who, _ := servedBy(t, c, "3.0.0", nil); return who == "dubbogo-v3" }, 20*time.Second, 50*time.Millisecond, "v3 after the restart")
		who, why := servedBy(t, c, "2.0.0", nil)
		assert.Equal(t, "dubbogo-v2", who, why)
		assert.Equal(t, "1", a.metric(t, "meshproto_registry_zookeeper_connected"))
	})
}
