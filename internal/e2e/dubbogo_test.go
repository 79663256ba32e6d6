package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dubbogoBinaries returns the dubbo-go v3.0.5 provider and consumer built
// from examples/dubbogo (its own module). make test builds them and sets
// MESHPROTO_DUBBOGO; a plain go test skips this test.
func dubbogoBinaries(t *testing.T) (provider, consumer string) {
	dir := os.Getenv("MESHPROTO_DUBBOGO")
	if dir == "" {
		t.Skip("MESHPROTO_DUBBOGO not set: run `make e2e` (builds examples/dubbogo)")
	}
	provider, consumer = filepath.Join(dir, "provider"), filepath.Join(dir, "consumer")
	for _, p := range []string{provider, consumer} {
		_, err := os.Stat(p)
		require.NoError(t, err, "dubbo-go binary")
	}
	return provider, consumer
}

type dubbogoLine struct {
	Call      int    `json:"call"`
	OK        bool   `json:"ok"`
	Error     string `json:"error"`
	Exception bool   `json:"exception"`
	User      struct {
		ID          string            `json:"id"`
		Instance    string            `json:"instance"`
		Version     string            `json:"version"`
		Attachments map[string]string `json:"attachments"`
	} `json:"user"`
}

// TestDubboGoThroughMOSN puts a real Dubbo framework on both sides: a
// dubbo-go v3 consumer (POJO argument, attachments) -> consumer sidecar ->
// provider sidecar (protocol Auto) -> dubbo-go v3 provider.
func TestDubboGoThroughMOSN(t *testing.T) {
	t.Parallel()
	providerBin, consumerBin := dubbogoBinaries(t)
	p := newPorts(t, 20880, 20881, 20882, 20892, 20902, 34901, 34902)
	// The provider sidecar listens where the consumer sidecar's
	// user-provider cluster points.
	p[20902] = p[20882]

	prov := exec.Command(providerBin, "-port", strings.TrimPrefix(p.addr(20880), "127.0.0.1:"), "-instance", "dubbogo-1", "-version", "1.0.0")
	var provLog syncBuffer
	prov.Stderr = &provLog
	stdout, err := prov.StdoutPipe()
	require.NoError(t, err)
	prov.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(t, prov.Start())
	t.Cleanup(func() {
		_ = prov.Process.Kill()
		_ = prov.Wait()
		if t.Failed() {
			t.Logf("--- dubbo-go provider log ---\n%s", tail(provLog.String(), 3000))
		}
	})
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "ready") {
				close(ready)
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatalf("dubbo-go provider not ready:\n%s", provLog.String())
	}

	startMOSN(t, "provider-sidecar", loadConfig(t, "configs/dubbo/provider-sidecar.json", p), p.addr(20882))
	startMOSN(t, "consumer-sidecar", loadConfig(t, "configs/dubbo/consumer-sidecar.json", p), p.addr(20881))

	runConsumer := func(args ...string) ([]dubbogoLine, error) {
		cmd := exec.Command(consumerBin, append([]string{"-url", "dubbo://" + p.addr(20881), "-conns", "1"}, args...)...)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		var lines []dubbogoLine
		for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			if l == "" {
				continue
			}
			var d dubbogoLine
			require.NoError(t, json.Unmarshal([]byte(l), &d), "consumer line %q (stderr %s)", l, tail(errOut.String(), 2000))
			lines = append(lines, d)
		}
		if err != nil {
			t.Logf("consumer stderr:\n%s", tail(errOut.String(), 3000))
		}
		return lines, err
	}

	t.Run("POJO call with attachments both ways", func(t *testing.T) {
		lines, err := runConsumer("-n", "20", "-attach", "x-tag=gray", "-attach", "tenant=t9")
		require.NoError(t, err)
		require.Len(t, lines, 20)
		for _, l := range lines {
			require.True(t, l.OK, l.Error)
			assert.Equal(t, "dubbogo-1", l.User.Instance)
			assert.Equal(t, "1.0.0", l.User.Version)
			assert.Equal(t, "gray", l.User.Attachments["x-tag"])
			assert.Equal(t, "t9", l.User.Attachments["tenant"])
			assert.Equal(t, "dubbo-go", l.User.Attachments["x-mesh-route"], "attachment added by MOSN's route arrived")
			assert.Equal(t, "org.meshproto.demo.UserProvider", l.User.Attachments["interface"])
		}
	})

	t.Run("exception reaches the dubbo-go consumer", func(t *testing.T) {
		lines, err := runConsumer("-fail", "-n", "3")
		require.NoError(t, err)
		require.Len(t, lines, 3)
		for _, l := range lines {
			assert.False(t, l.OK)
			assert.True(t, l.Exception, l.Error)
			assert.Contains(t, l.Error, "failed on purpose")
		}
	})
}
