package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type dubbogoLine struct {
	Call      int    `json:"call"`
	OK        bool   `json:"ok"`
	Error     string `json:"error"`
	Exception bool   `json:"exception"`
	User      struct {
		ID          string            `json:"id"`
		Name        string            `json:"name"`
		Age         int32             `json:"age"`
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
	providerBin := peerBinary(t, "MESHPROTO_DUBBOGO", "provider")
	consumerBin := peerBinary(t, "MESHPROTO_DUBBOGO", "consumer")
	p := newPorts(t, 20880, 20881, 20882, 20892, 20902, 34901, 34902)
	// The provider sidecar listens where the consumer sidecar's
	// user-provider cluster points.
	p[20902] = p[20882]

	startPeer(t, "dubbo-go provider", providerBin, "-port", strings.TrimPrefix(p.addr(20880), "127.0.0.1:"), "-instance", "dubbogo-1", "-version", "1.0.0")

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
			// The POJO made the round trip: built by the provider from the
			// UserRequest the consumer sent, read back by the consumer.
			id := fmt.Sprintf("42-%d", l.Call)
			assert.Equal(t, id, l.User.ID)
			assert.Equal(t, "user-"+id, l.User.Name)
			assert.Equal(t, int32(20+len(id)%50), l.User.Age)
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
