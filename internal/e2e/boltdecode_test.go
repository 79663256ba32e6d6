package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"mosn.io/pkg/buffer"

	"github.com/meshproto/meshproto/protocols/bolt"
	"github.com/meshproto/meshproto/protocols/kit"
	"github.com/meshproto/meshproto/protocols/kit/kittest"
)

// TestBoltCodecAgreesWithSofaBoltNode is differential fuzzing of the Bolt
// codec against the decoder sofa-rpc-node's server runs: every mutated
// request the codec would forward must decode there too, and must not
// change how the next request on the same connection decodes. A frame the
// server cannot decode makes it close the connection, which the proxy
// shares between clients (a CI run of the through-proxy fuzzing found one:
// a list without a length, which Java's hessian reads and hessian.js-1
// misreads); one that poisons its per-connection class cache breaks every
// later caller's requests on it.
func TestBoltCodecAgreesWithSofaBoltNode(t *testing.T) {
	node, dir := boltPeers(t)
	mutations := 150000
	if testing.Short() {
		mutations = 5000
	}
	// A fixed seed keeps `make test` repeatable; MESHPROTO_BOLT_DIFF_SEED
	// (a number, or "random") explores other mutations, and a failure
	// names the seed that reproduces it.
	seed := int64(1)
	if v := os.Getenv("MESHPROTO_BOLT_DIFF_SEED"); v == "random" {
		seed = time.Now().UnixNano()
	} else if v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		require.NoError(t, err, "MESHPROTO_BOLT_DIFF_SEED")
		seed = n
	}
	t.Logf("seed %d", seed)
	for _, dialect := range []struct{ seeds, version, healthy string }{
		{"v1_request*.hex", "3.0", "v1_request_echo_props.hex"},
		{"v1h4_request*.hex", "4.0", "v1h4_request_props_method.hex"},
	} {
		t.Run("hessian "+dialect.version, func(t *testing.T) {
			files, err := filepath.Glob(filepath.Join(repoRoot(), "examples/bolt/fixtures", dialect.seeds))
			require.NoError(t, err)
			var seeds [][]byte
			for _, f := range files {
				if !strings.Contains(f, "large") {
					seeds = append(seeds, kittest.LoadHex(t, f))
				}
			}
			require.NotEmpty(t, seeds)
			forwarded := forwardedMutations(rand.New(rand.NewSource(seed)), seeds, mutations)
			path := filepath.Join(t.TempDir(), "frames.hex")
			var lines bytes.Buffer
			for f := range forwarded {
				// Byte 9 is the serialization. The codec forwards other
				// serializations (SOFARPC's protobuf is 11) untouched; this
				// decoder, like a server without protobuf classes, reads
				// only hessian.
				if f[18:20] != "01" {
					delete(forwarded, f)
					continue
				}
				lines.WriteString(f + "\n")
			}
			require.NoError(t, os.WriteFile(path, lines.Bytes(), 0o644))
			healthy := kittest.LoadHex(t, filepath.Join(repoRoot(), "examples/bolt/fixtures", dialect.healthy))
			cmd := exec.Command(node, filepath.Join(dir, "tools/check-decode.js"), "--hessian-version", dialect.version, "--healthy", hex.EncodeToString(healthy), path)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			require.NoError(t, err, stderr.String())
			var summary struct{ Frames, Failed int }
			sc := bufio.NewScanner(bytes.NewReader(out))
			sc.Buffer(nil, 1<<24)
			shown := 0
			for sc.Scan() {
				var l struct {
					Hex, Error     string
					Frames, Failed int
				}
				require.NoError(t, json.Unmarshal(sc.Bytes(), &l))
				if l.Hex == "" {
					summary.Frames, summary.Failed = l.Frames, l.Failed
					continue
				}
				if shown++; shown <= 5 {
					t.Errorf("the codec forwards a frame sofa-bolt-node fails on (%s):\n%s", l.Error, l.Hex)
				}
			}
			t.Logf("%d mutations, %d distinct frames the codec forwards, %d that sofa-bolt-node fails on", mutations, summary.Frames, summary.Failed)
			assert.Equal(t, len(forwarded), summary.Frames)
			assert.Zero(t, summary.Failed)
		})
	}
}

// forwardedMutations returns, as hex, the distinct request frames among n
// mutations of seeds that the Bolt codec would forward.
func forwardedMutations(rnd *rand.Rand, seeds [][]byte, n int) map[string]bool {
	out := map[string]bool{}
	for i := 0; i < n; i++ {
		for _, f := range forwardedFrames(mutate(rnd, seeds)) {
			out[hex.EncodeToString(f.Raw)] = true
		}
	}
	return out
}

// forwardedFrames decodes b as one downstream connection of the Bolt codec
// and returns the requests and oneway requests it reads and would forward
// (not refused, not closing the connection; heartbeats are answered by the
// sidecar).
func forwardedFrames(b []byte) []*kit.Frame {
	ctx := context.Background()
	down := bolt.NewXCodec().NewXProtocol(ctx)
	in := buffer.NewIoBufferBytes(b)
	var out []*kit.Frame
	for {
		m, err := down.Decode(ctx, in)
		if err != nil || m == nil {
			return out
		}
		if f := m.(*kit.Frame); f.DecodeError() == nil && (f.Kind == kit.KindRequest || f.Kind == kit.KindOneway) {
			out = append(out, f)
		}
	}
}
